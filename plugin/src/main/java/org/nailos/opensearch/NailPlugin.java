package org.nailos.opensearch;

import org.opensearch.common.settings.Settings;
import org.opensearch.plugins.Plugin;
import org.opensearch.plugins.SearchPlugin;

import java.nio.file.Path;
import java.util.List;

/** Registers the {@code nail} query; models are read from {@code <config>/nail/models/<name>/}. */
public class NailPlugin extends Plugin implements SearchPlugin {

    private final ModelRegistry models;

    public NailPlugin(Settings settings, Path configPath) {
        this.models = new ModelRegistry(configPath.resolve("nail").resolve("models"));
    }

    @Override
    public List<QuerySpec<?>> getQueries() {
        return List.of(new QuerySpec<>(NailQueryBuilder.NAME, in -> new NailQueryBuilder(in, models),
            parser -> NailQueryBuilder.fromXContent(parser, models)));
    }
}
