package org.nailos.elasticsearch;

import org.apache.lucene.document.FeatureField;
import org.apache.lucene.index.IndexReader;
import org.apache.lucene.index.Term;
import org.apache.lucene.search.BooleanClause;
import org.apache.lucene.search.BooleanQuery;
import org.apache.lucene.search.BoostQuery;
import org.apache.lucene.search.IndexSearcher;
import org.apache.lucene.search.MatchNoDocsQuery;
import org.apache.lucene.search.Query;
import org.elasticsearch.TransportVersion;
import org.elasticsearch.TransportVersions;
import org.elasticsearch.common.ParsingException;
import org.elasticsearch.common.io.stream.StreamInput;
import org.elasticsearch.common.io.stream.StreamOutput;
import org.elasticsearch.index.mapper.MappedFieldType;
import org.elasticsearch.index.query.AbstractQueryBuilder;
import org.elasticsearch.index.query.QueryShardException;
import org.elasticsearch.index.query.SearchExecutionContext;
import org.elasticsearch.xcontent.XContentBuilder;
import org.elasticsearch.xcontent.XContentParser;
import org.nailos.opensearch.ModelRegistry;
import org.nailos.opensearch.NailModel;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.function.IntToDoubleFunction;

/**
 * {@code {"nail": {"field": "nail", "query": "vitamin d and bone loss", "model": "nail-minilm"}}} on
 * Elasticsearch: what {@code nail_os.queries.build_query} sends there, a {@code bool}/{@code should} of one
 * {@code term} clause per distinct token on the {@code sparse_vector} field (Lucene's linear FeatureField query),
 * boosted by count x query weight. The query weight is the BM25 idf of the token in {@code <field>_tokens} where
 * the index has that field, else the model's query_weights.json: as the OpenSearch plugin's NailQueryBuilder,
 * whose parsing and weighting this mirrors line for line (the two engines' query APIs share no classes).
 */
public class NailQueryBuilder extends AbstractQueryBuilder<NailQueryBuilder> {

    public static final String NAME = "nail";
    /** Longer texts are refused: tokenizing megabytes per shard would be a denial of service, not a query. */
    public static final int MAX_QUERY_CHARS = 1_000_000;
    public static final String STATS_SUFFIX = "_tokens";
    /** Elasticsearch's field type whose term query is FeatureField.newLinearQuery (8.11+). */
    public static final String FIELD_TYPE = "sparse_vector";

    private final String field;
    private final String query;
    private final String model;
    private final Integer maxClauses;  // null: the node's indices.query.bool.max_clause_count
    private final ModelRegistry models;

    public NailQueryBuilder(String field, String query, String model, Integer maxClauses, ModelRegistry models) {
        this.field = Objects.requireNonNull(field, "field");
        this.query = Objects.requireNonNull(query, "query");
        this.model = Objects.requireNonNull(model, "model");
        this.maxClauses = maxClauses;
        this.models = models;
    }

    public NailQueryBuilder(StreamInput in, ModelRegistry models) throws IOException {
        super(in);
        this.field = in.readString();
        this.query = in.readString();
        this.model = in.readString();
        this.maxClauses = in.readOptionalVInt();
        this.models = models;
    }

    @Override
    protected void doWriteTo(StreamOutput out) throws IOException {
        out.writeString(field);
        out.writeString(query);
        out.writeString(model);
        out.writeOptionalVInt(maxClauses);
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
        boostAndQueryNameToXContent(builder);
        builder.endObject();
    }

    public static NailQueryBuilder fromXContent(XContentParser parser, ModelRegistry models) throws IOException {
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
            models.get(model);  // an unknown model is the caller's mistake: say so before any shard is asked
        } catch (IllegalArgumentException e) {
            throw new ParsingException(parser.getTokenLocation(), e.getMessage());
        }
        NailQueryBuilder builder = new NailQueryBuilder(field, query, model, maxClauses, models);
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
    protected Query doToQuery(SearchExecutionContext context) throws IOException {
        MappedFieldType type = context.getFieldType(field);
        if (type == null) {
            throw new QueryShardException(context, "[nail] field [{}] does not exist in the mapping; it must be a "
                + FIELD_TYPE + " field", field);
        }
        if (!FIELD_TYPE.equals(type.typeName())) {
            throw new QueryShardException(context, "[nail] field [{}] is of type [{}]; it must be " + FIELD_TYPE,
                field, type.typeName());
        }
        NailModel nail;
        try {
            nail = models.get(model);
        } catch (IllegalArgumentException e) {
            throw new QueryShardException(context, e.getMessage());
        }
        Map<Integer, Integer> tokenCounts = nail.countTokens(query);
        List<NailModel.Token> tokens = NailModel.selectTokens(
            NailModel.toTokens(tokenCounts, queryWeights(context, nail::modelWeight)),
            maxClauses != null ? maxClauses : IndexSearcher.getMaxClauseCount());
        if (tokens.isEmpty()) {
            return new MatchNoDocsQuery("[nail] the query has no token of model [" + model + "]");
        }
        BooleanQuery.Builder bool = new BooleanQuery.Builder();
        for (NailModel.Token t : tokens) {
            // What a boosted `term` on sparse_vector becomes: a BoostQuery around a weight-1 feature query.
            Query feature = FeatureField.newLinearQuery(field, Integer.toString(t.id()), 1f);
            bool.add(new BoostQuery(feature, (float) t.boost()), BooleanClause.Occur.SHOULD);
        }
        return bool.build();
    }

    /** BM25's idf over the shard's {@code <field>_tokens}; the model's weights where the index has none. */
    IntToDoubleFunction queryWeights(SearchExecutionContext context, IntToDoubleFunction ownWeights) {
        String statsField = field + STATS_SUFFIX;
        IndexReader reader = context.getIndexReader();
        if (reader == null || context.getFieldType(statsField) == null) {
            return ownWeights;
        }
        int docCount;
        try {
            docCount = reader.getDocCount(statsField);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        if (docCount <= 0) {
            return ownWeights;
        }
        return id -> {
            try {
                long docFreq = reader.docFreq(new Term(statsField, Integer.toString(id)));
                return Math.log1p((docCount - docFreq + 0.5) / (docFreq + 0.5));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        };
    }

    @Override
    protected boolean doEquals(NailQueryBuilder other) {
        return field.equals(other.field) && query.equals(other.query) && model.equals(other.model)
            && Objects.equals(maxClauses, other.maxClauses);
    }

    @Override
    protected int doHashCode() {
        return Objects.hash(field, query, model, maxClauses);
    }

    @Override
    public String getWriteableName() {
        return NAME;
    }

    @Override
    public TransportVersion getMinimalSupportedVersion() {
        return TransportVersions.V_8_0_0;
    }
}
