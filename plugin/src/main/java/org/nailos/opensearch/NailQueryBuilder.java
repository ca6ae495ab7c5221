package org.nailos.opensearch;

import org.apache.lucene.document.FeatureField;
import org.apache.lucene.index.IndexReader;
import org.apache.lucene.index.Term;
import org.apache.lucene.search.BooleanClause;
import org.apache.lucene.search.BooleanQuery;
import org.apache.lucene.search.BoostQuery;
import org.apache.lucene.search.IndexSearcher;
import org.apache.lucene.search.MatchNoDocsQuery;
import org.apache.lucene.search.Query;
import org.apache.lucene.util.SetOnce;
import org.opensearch.core.action.ActionListener;
import org.opensearch.core.common.ParsingException;
import org.opensearch.core.common.io.stream.StreamInput;
import org.opensearch.core.common.io.stream.StreamOutput;
import org.opensearch.core.xcontent.XContentBuilder;
import org.opensearch.core.xcontent.XContentParser;
import org.opensearch.index.mapper.MappedFieldType;
import org.opensearch.index.query.AbstractQueryBuilder;
import org.opensearch.index.query.QueryBuilder;
import org.opensearch.index.query.QueryRewriteContext;
import org.opensearch.index.query.QueryShardContext;
import org.opensearch.index.query.QueryShardException;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.function.IntToDoubleFunction;
import java.util.function.Supplier;

/**
 * {@code {"nail": {"field": "nail", "query": "vitamin d and bone loss", "model": "nail-minilm"}}}: the text is
 * tokenized on the shard by the model's tokenizer and becomes what {@code nail_os.queries.build_query} sends, a
 * {@code bool}/{@code should} of one linear {@code rank_feature} clause per distinct token, boosted by
 * count x query weight. The query weight is the BM25 idf of the token in {@code <field>_tokens} (a keyword field
 * of each document's distinct token ids) where the index has that field, else the model's query_weights.json.
 */
public class NailQueryBuilder extends AbstractQueryBuilder<NailQueryBuilder> {

    public static final String NAME = "nail";
    /** Longer texts are refused: tokenizing megabytes per shard would be a denial of service, not a query. */
    public static final int MAX_QUERY_CHARS = 1_000_000;
    /** The statistics field beside the rank_features field, as the kit's mapping names it. */
    public static final String STATS_SUFFIX = "_tokens";

    private final String field;
    private final String query;
    private final String model;
    private final Integer maxClauses;  // null: the node's indices.query.bool.max_clause_count
    private final ModelRegistry models;
    private final SystemModels uploaded;  // null: models from config files only (unit tests)
    // An uploaded model is fetched and the text tokenized on the coordinating node (doRewrite); the shards get
    // the distinct token ids, their counts and the model's weights for them, so no shard needs the model.
    private int[] ids;
    private int[] counts;
    private double[] modelWeights;
    private Supplier<NailModel> pending;  // set between registering the fetch and its answer

    public NailQueryBuilder(String field, String query, String model, Integer maxClauses, ModelRegistry models,
                            SystemModels uploaded) {
        this.field = Objects.requireNonNull(field, "field");
        this.query = Objects.requireNonNull(query, "query");
        this.model = Objects.requireNonNull(model, "model");
        this.maxClauses = maxClauses;
        this.models = models;
        this.uploaded = uploaded;
    }

    public NailQueryBuilder(StreamInput in, ModelRegistry models, SystemModels uploaded) throws IOException {
        super(in);
        this.field = in.readString();
        this.query = in.readString();
        this.model = in.readString();
        this.maxClauses = in.readOptionalVInt();
        if (in.readBoolean()) {
            this.ids = in.readVIntArray();
            this.counts = in.readVIntArray();
            this.modelWeights = in.readDoubleArray();
        }
        this.models = models;
        this.uploaded = uploaded;
    }

    @Override
    protected void doWriteTo(StreamOutput out) throws IOException {
        if (pending != null) {
            throw new IllegalStateException("[nail] the model fetch was not awaited before sending the query");
        }
        out.writeString(field);
        out.writeString(query);
        out.writeString(model);
        out.writeOptionalVInt(maxClauses);
        out.writeBoolean(ids != null);
        if (ids != null) {
            out.writeVIntArray(ids);
            out.writeVIntArray(counts);
            out.writeDoubleArray(modelWeights);
        }
    }

    @Override
    @SuppressWarnings("unchecked")
    protected QueryBuilder doRewrite(QueryRewriteContext context) throws IOException {
        if (ids != null || uploaded == null) {
            return this;
        }
        if (pending != null) {
            NailModel fetched = pending.get();
            return fetched == null ? this : resolved(fetched);
        }
        if (context.convertToShardContext() != null || models.hasFiles(model)) {
            return this;  // a model folder on the node: the shard tokenizes (doToQuery)
        }
        SetOnce<NailModel> holder = new SetOnce<>();
        context.registerAsyncAction((client, listener) -> uploaded.get(client, model, ActionListener.wrap(m -> {
            holder.set(m);
            ((ActionListener<Object>) listener).onResponse(null);
        }, listener::onFailure)));
        NailQueryBuilder next = copy();
        next.pending = holder::get;
        return next;
    }

    private NailQueryBuilder copy() {
        NailQueryBuilder next = new NailQueryBuilder(field, query, model, maxClauses, models, uploaded);
        next.boost(boost);
        next.queryName(queryName);
        return next;
    }

    /** This query with the text tokenized by {@code nail} and the model's weights for its tokens. */
    NailQueryBuilder resolved(NailModel nail) {
        Map<Integer, Integer> tokenCounts = nail.countTokens(query);
        NailQueryBuilder next = copy();
        next.ids = tokenCounts.keySet().stream().mapToInt(Integer::intValue).toArray();
        next.counts = tokenCounts.values().stream().mapToInt(Integer::intValue).toArray();
        next.modelWeights = Arrays.stream(next.ids).mapToDouble(nail::modelWeight).toArray();
        return next;
    }

    @Override
    protected void doXContent(XContentBuilder builder, Params params) throws IOException {
        builder.startObject(NAME);
        builder.field("field", field);
        builder.field("query", query);
        builder.field("model", model);
        if (maxClauses != null) {
            builder.field("max_clauses", maxClauses);
        }
        printBoostAndQueryName(builder);
        builder.endObject();
    }

    public static NailQueryBuilder fromXContent(XContentParser parser, ModelRegistry models, SystemModels uploaded)
        throws IOException {
        String field = null;
        String query = null;
        String model = null;
        Integer maxClauses = null;
        float boost = DEFAULT_BOOST;
        String queryName = null;
        String current = null;
        XContentParser.Token token;
        while ((token = parser.nextToken()) != XContentParser.Token.END_OBJECT) {
            if (token == XContentParser.Token.FIELD_NAME) {
                current = parser.currentName();
                continue;
            }
            if (current == null) {
                throw new ParsingException(parser.getTokenLocation(), "[nail] expects an object of fields");
            }
            switch (current) {
                case "field" -> field = string(parser, token, current);
                case "query" -> query = string(parser, token, current);
                case "model" -> model = string(parser, token, current);
                case "_name" -> queryName = string(parser, token, current);
                case "boost" -> {
                    requireNumber(parser, token, current);
                    boost = parser.floatValue();
                    if (!(boost >= 0) || Float.isInfinite(boost)) {
                        throw new ParsingException(parser.getTokenLocation(), "[nail] [boost] must be a finite "
                            + "number >= 0, got [" + parser.text() + "]");
                    }
                }
                case "max_clauses" -> {
                    requireNumber(parser, token, current);
                    if (parser.numberType() != XContentParser.NumberType.INT || parser.intValue() < 1) {
                        throw new ParsingException(parser.getTokenLocation(), "[nail] [max_clauses] must be an "
                            + "integer >= 1, got [" + parser.text() + "]");
                    }
                    maxClauses = parser.intValue();
                }
                default -> throw new ParsingException(parser.getTokenLocation(), "[nail] unknown field [" + current
                    + "]; expected field, query, model, max_clauses, boost or _name");
            }
        }
        for (String[] required : new String[][] {{"field", field}, {"query", query}, {"model", model}}) {
            if (required[1] == null) {
                throw new ParsingException(parser.getTokenLocation(), "[nail] requires [" + required[0] + "], e.g. "
                    + "{\"nail\": {\"field\": \"nail\", \"query\": \"vitamin d\", \"model\": \"nail-minilm\"}}");
            }
        }
        if (query.length() > MAX_QUERY_CHARS) {
            throw new ParsingException(parser.getTokenLocation(), "[nail] [query] has " + query.length()
                + " characters, over the " + MAX_QUERY_CHARS + " allowed");
        }
        try {
            // An unknown model is the caller's mistake: say so before any shard is asked. An uploaded model is
            // looked up when the query is rewritten (asynchronously), so only its name is checked here.
            if (uploaded == null) {
                models.get(model);
            } else {
                models.checkName(model);
            }
        } catch (IllegalArgumentException e) {
            throw new ParsingException(parser.getTokenLocation(), e.getMessage());
        }
        NailQueryBuilder builder = new NailQueryBuilder(field, query, model, maxClauses, models, uploaded);
        builder.boost(boost);
        builder.queryName(queryName);
        return builder;
    }

    private static String string(XContentParser parser, XContentParser.Token token, String name) throws IOException {
        if (token != XContentParser.Token.VALUE_STRING) {
            throw new ParsingException(parser.getTokenLocation(), "[nail] [" + name + "] must be a string, got "
                + token);
        }
        return parser.text();
    }

    private static void requireNumber(XContentParser parser, XContentParser.Token token, String name) {
        if (token != XContentParser.Token.VALUE_NUMBER) {
            throw new ParsingException(parser.getTokenLocation(), "[nail] [" + name + "] must be a number, got "
                + token);
        }
    }

    @Override
    protected Query doToQuery(QueryShardContext context) throws IOException {
        MappedFieldType type = context.fieldMapper(field);
        if (type == null) {
            throw new QueryShardException(context, "[nail] field [{}] does not exist in the mapping; it must be a "
                + "rank_features field", field);
        }
        if (!"rank_features".equals(type.typeName())) {
            throw new QueryShardException(context, "[nail] field [{}] is of type [{}]; it must be rank_features",
                field, type.typeName());
        }
        Map<Integer, Integer> tokenCounts;
        IntToDoubleFunction ownWeights;
        if (ids != null) {
            tokenCounts = new LinkedHashMap<>();
            Map<Integer, Double> carried = new HashMap<>();
            for (int i = 0; i < ids.length; i++) {
                tokenCounts.put(ids[i], counts[i]);
                carried.put(ids[i], modelWeights[i]);
            }
            ownWeights = carried::get;
        } else {
            NailModel nail;
            try {
                nail = models.get(model);
            } catch (IllegalArgumentException e) {
                throw new QueryShardException(context, e.getMessage());
            }
            tokenCounts = nail.countTokens(query);
            ownWeights = nail::modelWeight;
        }
        List<NailModel.Token> tokens = NailModel.selectTokens(
            NailModel.toTokens(tokenCounts, queryWeights(context, ownWeights)),
            maxClauses != null ? maxClauses : IndexSearcher.getMaxClauseCount());
        if (tokens.isEmpty()) {
            return new MatchNoDocsQuery("[nail] the query has no token of model [" + model + "]");
        }
        BooleanQuery.Builder bool = new BooleanQuery.Builder();
        for (NailModel.Token t : tokens) {
            // What `rank_feature` with `linear` and a boost becomes: a BoostQuery around a weight-1 feature query
            // (FeatureField.newLinearQuery itself refuses weights over 64, which count x idf can exceed).
            Query feature = FeatureField.newLinearQuery(field, Integer.toString(t.id()), 1f);
            bool.add(new BoostQuery(feature, (float) t.boost()), BooleanClause.Occur.SHOULD);
        }
        return bool.build();
    }

    /**
     * BM25's idf over the shard's {@code <field>_tokens}, ln(1 + (N - df + 0.5) / (df + 0.5)) (N = docCount,
     * df = docFreq, deleted documents included, as BM25 counts them); the model's weights when the index has no
     * such field or no document in it.
     */
    IntToDoubleFunction queryWeights(QueryShardContext context, IntToDoubleFunction ownWeights) throws IOException {
        String statsField = field + STATS_SUFFIX;
        IndexReader reader = context.getIndexReader();
        if (reader == null || context.fieldMapper(statsField) == null) {
            return ownWeights;
        }
        int docCount = reader.getDocCount(statsField);
        if (docCount <= 0) {
            return ownWeights;
        }
        return id -> {
            try {
                return idf(docCount, reader.docFreq(new Term(statsField, Integer.toString(id))));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        };
    }

    /** BM25's idf, in double as {@code nail_os.statistics.idf} computes it (the boost becomes a float later). */
    static double idf(long docCount, long docFreq) {
        return Math.log1p((docCount - docFreq + 0.5) / (docFreq + 0.5));
    }

    @Override
    protected boolean doEquals(NailQueryBuilder other) {
        return field.equals(other.field) && query.equals(other.query) && model.equals(other.model)
            && Objects.equals(maxClauses, other.maxClauses) && Arrays.equals(ids, other.ids)
            && Arrays.equals(counts, other.counts) && Arrays.equals(modelWeights, other.modelWeights)
            && Objects.equals(pending, other.pending);
    }

    @Override
    protected int doHashCode() {
        return Objects.hash(field, query, model, maxClauses, Arrays.hashCode(ids), Arrays.hashCode(counts),
            Arrays.hashCode(modelWeights), pending);
    }

    @Override
    public String getWriteableName() {
        return NAME;
    }

    public String field() {
        return field;
    }

    public String query() {
        return query;
    }

    public String model() {
        return model;
    }

    public Integer maxClauses() {
        return maxClauses;
    }
}
