package org.nailos.opensearch;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A model's query side, as {@code nail_os.tokens.Tokenizer} reads it: {@code tokenizer.json} and the optional
 * {@code query_weights.json} ({@code {"token id": weight}}; a token missing from it weighs 1.0).
 *
 * <p>Shared with the Elasticsearch plugin ({@code plugin/elasticsearch/}), which compiles this file, BertTokenizer
 * and ModelRegistry into its own jar: so nothing here imports OpenSearch. JSON is parsed by the engine's own
 * parser, passed in as a {@link JsonParser}.
 */
public final class NailModel {

    /** Text to a JSON object: OpenSearch's or Elasticsearch's XContent parser (neither is on the other's node). */
    @FunctionalInterface
    public interface JsonParser {
        Map<String, Object> parse(String text) throws IOException;
    }

    public static final String TOKENIZER_FILE = "tokenizer.json";
    public static final String QUERY_WEIGHTS_FILE = "query_weights.json";

    private final BertTokenizer tokenizer;
    private final Map<Integer, Double> queryWeights;
    /** Ids of tokens written [...]: [CLS], [SEP], [PAD], [MASK], [UNK], [unused0]... never a query token. */
    private final Set<Integer> specialIds;

    NailModel(BertTokenizer tokenizer, Map<Integer, Double> queryWeights, Set<Integer> specialIds) {
        this.tokenizer = tokenizer;
        this.queryWeights = queryWeights;
        this.specialIds = specialIds;
    }

    /** One distinct query token: id, count in the query, and boost = count x query weight. */
    public record Token(int id, int count, double boost) {}

    /**
     * Distinct tokens of {@code text} in first-seen order, special tokens dropped, as
     * {@code Tokenizer.tokenize_query} returns them; {@code weights} gives a token's query weight.
     */
    public List<Token> tokenizeQuery(String text, java.util.function.IntToDoubleFunction weights) {
        return toTokens(countTokens(text), weights);
    }

    /** Distinct non-special token ids of {@code text} in first-seen order, with their counts. */
    public LinkedHashMap<Integer, Integer> countTokens(String text) {
        LinkedHashMap<Integer, Integer> counts = new LinkedHashMap<>();
        for (int id : tokenizer.encode(text)) {
            if (!specialIds.contains(id)) {
                counts.merge(id, 1, Integer::sum);
            }
        }
        return counts;
    }

    /** Tokens with boost = count x weight, in the order of {@code counts}. */
    public static List<Token> toTokens(Map<Integer, Integer> counts, java.util.function.IntToDoubleFunction weights) {
        List<Token> tokens = new ArrayList<>(counts.size());
        // Python multiplies the int count by a float64 weight; the boost is then read back as a float.
        counts.forEach((id, count) -> tokens.add(new Token(id, count, count * weights.applyAsDouble(id))));
        return tokens;
    }

    /** The model's own weight for a token (query_weights.json), 1.0 where it has none. */
    public double modelWeight(int id) {
        Double w = queryWeights.get(id);
        return w == null ? 1.0 : w;
    }

    /**
     * At most {@code limit} tokens: all of them if they fit, else the largest boosts, ties broken by the smaller
     * token id ({@code queries.select_tokens} with {@code on_too_many="prune"}).
     */
    public static List<Token> selectTokens(List<Token> tokens, int limit) {
        if (tokens.size() <= limit) {
            return tokens;
        }
        List<Token> sorted = new ArrayList<>(tokens);
        sorted.sort((a, b) -> a.boost() != b.boost() ? Double.compare(b.boost(), a.boost())
            : Integer.compare(a.id(), b.id()));
        return sorted.subList(0, limit);
    }

    public int weightCount() {
        return queryWeights.size();
    }

    public BertTokenizer tokenizer() {
        return tokenizer;
    }

    /** Loads {@code dir/tokenizer.json} and, if present, {@code dir/query_weights.json}. */
    public static NailModel load(Path dir, JsonParser json) throws IOException {
        Path weightsFile = dir.resolve(QUERY_WEIGHTS_FILE);
        return fromJsonText(Files.readString(dir.resolve(TOKENIZER_FILE), StandardCharsets.UTF_8),
            Files.isRegularFile(weightsFile) ? Files.readString(weightsFile, StandardCharsets.UTF_8) : null,
            dir.toString(), json);
    }

    /** A model from the texts of its tokenizer.json and query_weights.json (null or empty: no weights). */
    public static NailModel fromJsonText(String tokenizerJson, String weightsJson, String source, JsonParser json)
        throws IOException {
        if (tokenizerJson == null || tokenizerJson.isBlank()) {
            throw new IllegalArgumentException(source + ": no tokenizer");
        }
        Map<String, Object> weights = weightsJson == null || weightsJson.isBlank() ? Map.of()
            : json.parse(weightsJson);
        return fromJson(json.parse(tokenizerJson), weights, source);
    }

    /**
     * Checks that the weights belong to the vocabulary: every key a token id of it, every value a finite
     * number > 0 (a model whose vocabulary and weights disagree is refused, naming the first bad entry).
     */
    static NailModel fromJson(Map<String, Object> tokenizerJson, Map<String, Object> rawWeights, String source) {
        NailModel model = fromTokenizerJson(tokenizerJson, Map.of(), source);
        int size = model.tokenizer.vocabSize();
        Map<Integer, Double> weights = new HashMap<>();
        for (Map.Entry<String, Object> e : rawWeights.entrySet()) {
            int id;
            double w;
            try {
                id = Integer.parseInt(e.getKey());
                w = ((Number) e.getValue()).doubleValue();
            } catch (NumberFormatException | ClassCastException | NullPointerException ex) {
                throw new IllegalArgumentException(source + ": query weight entry [" + e.getKey() + "] is not "
                    + "\"token id\": number");
            }
            if (id < 0 || id >= size) {
                throw new IllegalArgumentException(source + ": query weight for token id [" + id + "], but the "
                    + "vocabulary has ids 0 to " + (size - 1) + ": the weights belong to another tokenizer");
            }
            if (!(w > 0) || Double.isInfinite(w)) {
                throw new IllegalArgumentException(source + ": query weight of token id [" + id + "] is [" + w
                    + "]; it must be a finite number > 0");
            }
            weights.put(id, w);
        }
        return new NailModel(model.tokenizer, Collections.unmodifiableMap(weights), model.specialIds);
    }

    /**
     * The tokenizer of a {@code tokenizers} tokenizer.json; IllegalArgumentException (a 400 through REST), never a
     * ClassCastException or NullPointerException (a 500), when its layout is not that of a BERT WordPiece one.
     */
    static NailModel fromTokenizerJson(Map<String, Object> json, Map<Integer, Double> weights, String source) {
        try {
            return parseTokenizerJson(json, weights, source);
        } catch (ClassCastException | NullPointerException | ArithmeticException e) {
            throw new IllegalArgumentException(source + ": tokenizer.json does not have the layout the `tokenizers` "
                + "package writes for a BERT WordPiece tokenizer (" + e.getMessage() + ")");
        }
    }

    @SuppressWarnings("unchecked")
    private static NailModel parseTokenizerJson(Map<String, Object> json, Map<Integer, Double> weights,
                                                String source) {
        Map<String, Object> model = section(json, "model", "WordPiece", source);
        Map<String, Object> normalizer = section(json, "normalizer", "BertNormalizer", source);
        section(json, "pre_tokenizer", "BertPreTokenizer", source);
        if (!(model.get("vocab") instanceof Map<?, ?> rawVocab) || rawVocab.isEmpty()) {
            throw new IllegalArgumentException(source + ": [model][vocab] must be a non-empty object of token: id");
        }
        Map<String, Integer> vocab = new HashMap<>();
        ((Map<String, Object>) rawVocab).forEach((tok, id) -> {
            if (!(id instanceof Integer || id instanceof Long) || ((Number) id).longValue() < 0
                || ((Number) id).longValue() > Integer.MAX_VALUE) {
                throw new IllegalArgumentException(source + ": [model][vocab] gives token [" + tok + "] the id ["
                    + id + "]; ids must be integers >= 0");
            }
            vocab.put(tok, ((Number) id).intValue());
        });
        Map<String, Integer> added = new HashMap<>();
        Map<String, Integer> all = new HashMap<>(vocab);
        Object addedList = json.get("added_tokens");
        if (addedList instanceof List<?> list) {
            for (Object o : list) {
                Map<String, Object> t = (Map<String, Object>) o;
                String content = (String) t.get("content");
                for (String flag : new String[] {"lstrip", "rstrip", "single_word", "normalized"}) {
                    if (Boolean.TRUE.equals(t.get(flag))) {
                        throw new IllegalArgumentException(source + ": added token [" + content + "] has " + flag
                            + "=true, which this tokenizer does not implement");
                    }
                }
                int id = ((Number) t.get("id")).intValue();
                added.put(content, id);
                all.put(content, id);
            }
        }
        boolean lowercase = !Boolean.FALSE.equals(normalizer.get("lowercase"));
        Object strip = normalizer.get("strip_accents");
        BertTokenizer tokenizer = new BertTokenizer(vocab, str(model, "unk_token", "[UNK]"),
            str(model, "continuing_subword_prefix", "##"),
            ((Number) model.getOrDefault("max_input_chars_per_word", 100)).intValue(),
            !Boolean.FALSE.equals(normalizer.get("clean_text")),
            !Boolean.FALSE.equals(normalizer.get("handle_chinese_chars")),
            strip == null ? lowercase : (Boolean) strip, lowercase, added);
        Set<Integer> special = new HashSet<>();
        all.forEach((tok, id) -> {
            if (tok.startsWith("[") && tok.endsWith("]")) {
                special.add(id);
            }
        });
        return new NailModel(tokenizer, weights, Collections.unmodifiableSet(special));
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> section(Map<String, Object> json, String key, String type, String source) {
        Object value = json.get(key);
        if (!(value instanceof Map) || !type.equals(((Map<String, Object>) value).get("type"))) {
            throw new IllegalArgumentException(source + ": [" + key + "] must be of type " + type + " (a BERT "
                + "WordPiece tokenizer); other tokenizers are not supported by the nail plugin");
        }
        return (Map<String, Object>) value;
    }

    private static String str(Map<String, Object> map, String key, String fallback) {
        Object v = map.get(key);
        return v == null ? fallback : v.toString();
    }
}
