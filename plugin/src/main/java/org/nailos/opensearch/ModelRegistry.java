package org.nailos.opensearch;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Pattern;

/**
 * Models found in {@code <config>/nail/models/<name>/}, loaded on first use and cached per name; a model whose
 * {@code tokenizer.json} or {@code query_weights.json} changed on disk is loaded again on its next use.
 */
public final class ModelRegistry {

    /** A name is one path segment: no separators, no "..", so it cannot leave the models folder. */
    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,127}");

    private final Path root;
    private final NailModel.JsonParser json;
    private final Map<String, Cached> cache = new ConcurrentHashMap<>();

    private record Cached(FileTime tokenizerTime, FileTime weightsTime, NailModel model) {}

    public ModelRegistry(Path root, NailModel.JsonParser json) {
        this.root = root;
        this.json = json;
    }

    public Path root() {
        return root;
    }

    /** IllegalArgumentException unless {@code name} is a valid model name. */
    public void checkName(String name) {
        if (name == null || !NAME.matcher(name).matches()) {
            throw new IllegalArgumentException("[nail] model name [" + name + "] is not valid: use letters, digits, "
                + "'.', '_' and '-'");
        }
    }

    /** Whether {@code config/nail/models/<name>/tokenizer.json} exists on this node. */
    public boolean hasFiles(String name) {
        checkName(name);
        return Files.isRegularFile(root.resolve(name).resolve(NailModel.TOKENIZER_FILE));
    }

    /** The model called {@code name}, or IllegalArgumentException naming the models there are. */
    public NailModel get(String name) {
        checkName(name);
        Path dir = root.resolve(name);
        Path tokenizerFile = dir.resolve(NailModel.TOKENIZER_FILE);
        if (!Files.isRegularFile(tokenizerFile)) {
            throw new IllegalArgumentException("[nail] unknown model [" + name + "]; models on this node: "
                + names() + " (each is a folder with tokenizer.json under " + root + ")");
        }
        FileTime tokTime = mtime(tokenizerFile);
        FileTime weightsTime = mtime(dir.resolve(NailModel.QUERY_WEIGHTS_FILE));
        Cached cached = cache.get(name);
        if (cached != null && cached.tokenizerTime.equals(tokTime) && cached.weightsTime.equals(weightsTime)) {
            return cached.model;
        }
        try {
            NailModel model = NailModel.load(dir, json);
            cache.put(name, new Cached(tokTime, weightsTime, model));
            return model;
        } catch (IOException e) {
            throw new UncheckedIOException("[nail] could not read model [" + name + "] from " + dir, e);
        }
    }

    /** Names of the model folders, sorted. */
    public List<String> names() {
        List<String> names = new ArrayList<>();
        if (Files.isDirectory(root)) {
            try (DirectoryStream<Path> dirs = Files.newDirectoryStream(root)) {
                for (Path p : dirs) {
                    if (Files.isRegularFile(p.resolve(NailModel.TOKENIZER_FILE))) {
                        names.add(p.getFileName().toString());
                    }
                }
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        Collections.sort(names);
        return names;
    }

    private static FileTime mtime(Path file) {
        try {
            return Files.isRegularFile(file) ? Files.getLastModifiedTime(file) : FileTime.fromMillis(0);
        } catch (IOException e) {
            return FileTime.fromMillis(0);
        }
    }
}
