package org.nailos.opensearch;

import org.apache.lucene.search.BooleanClause;
import org.apache.lucene.search.Query;
import org.opensearch.ExceptionsHelper;
import org.opensearch.OpenSearchStatusException;
import org.opensearch.action.IndicesRequest;
import org.opensearch.action.search.SearchPhaseExecutionException;
import org.opensearch.action.search.SearchRequest;
import org.opensearch.action.search.SearchResponse;
import org.opensearch.action.search.ShardSearchFailure;
import org.opensearch.core.action.ActionListener;
import org.opensearch.core.common.ParsingException;
import org.opensearch.core.common.io.stream.StreamInput;
import org.opensearch.core.common.io.stream.StreamOutput;
import org.opensearch.core.rest.RestStatus;
import org.opensearch.core.xcontent.XContentBuilder;
import org.opensearch.core.xcontent.XContentParser;
import org.opensearch.index.query.AbstractQueryBuilder;
import org.opensearch.index.query.BoolQueryBuilder;
import org.opensearch.index.query.MatchNoneQueryBuilder;
import org.opensearch.index.query.QueryBuilder;
import org.opensearch.index.query.QueryBuilderVisitor;
import org.opensearch.index.query.QueryCoordinatorContext;
import org.opensearch.index.query.QueryRewriteContext;
import org.opensearch.index.query.QueryShardContext;
import org.opensearch.index.query.QueryShardException;
import org.opensearch.search.builder.SearchSourceBuilder;
import org.opensearch.search.pipeline.SearchPipelineService;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicReferenceArray;

/**
 * {@code {"nail_hybrid": {"queries": [{"match": ...}, {"nail": ...}], "weights": [0.5, 0.5], "normalization": "max"}}}:
 * a weighted sum of sub-query scores, each first divided by that sub-query's top score over the searched indices
 * (min-max normalization with the lower bound fixed at 0), so one fixed weight means the same on every collection,
 * unlike the raw sum of BM25 and NAIL whose scales differ per collection and per query.
 *
 * <p>The top scores are found on the coordinating node while the request is rewritten: one size-1 search per
 * sub-query over the request's own indices (and routing, preference, search type), then the query becomes an
 * ordinary {@code bool}/{@code should} of the sub-queries boosted by {@code weight / top}. So the scores are exact
 * across shards and nodes, the shards run a plain boolean query, and {@code _explain} shows each part. A sub-query
 * with no hit is dropped. Where no coordinating step can run searches (an alias filter, the percolator) the query
 * fails with a 400 instead of normalizing by something else. {@code "normalization": "none"} is the plain weighted
 * sum, with no extra search.
 */
public class NailHybridQueryBuilder extends AbstractQueryBuilder<NailHybridQueryBuilder> {

    public static final String NAME = "nail_hybrid";
    /** Each sub-query costs one more search per request; neural-search's hybrid query allows 1 to 5 as well. */
    public static final int MAX_QUERIES = 5;

    /** How a sub-query's score is scaled before it is weighted. */
    public enum Normalization {
        /** Divided by the sub-query's top score over the searched indices: min-max with the lower bound 0. */
        MAX,
        /** Not scaled: the weighted raw sum. */
        NONE;

        static Normalization parse(String text) {
            for (Normalization n : values()) {
                if (n.toString().equals(text)) {
                    return n;
                }
            }
            throw new IllegalArgumentException("[" + NAME + "] [normalization] must be one of " + Arrays.toString(values())
                + ", got [" + text + "]");
        }

        @Override
        public String toString() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    /** What the size-1 search of a sub-query found: whether anything matched, and the best score. */
    record Top(boolean hit, float score) {}

    private final List<QueryBuilder> queries;
    private final double[] weights;
    private final Normalization normalization;
    // Set between registering the top-score searches and their answers; never serialized (see doWriteTo).
    private AtomicReferenceArray<Top> tops;

    public NailHybridQueryBuilder(List<QueryBuilder> queries, double[] weights, Normalization normalization) {
        this.queries = List.copyOf(queries);
        this.weights = weights.clone();
        this.normalization = Objects.requireNonNull(normalization, "normalization");
        String problem = validate(this.queries.size(), this.weights);
        if (problem != null) {
            throw new IllegalArgumentException(problem);
        }
    }

    public NailHybridQueryBuilder(StreamInput in) throws IOException {
        super(in);
        this.queries = in.readNamedWriteableList(QueryBuilder.class);
        this.weights = in.readDoubleArray();
        this.normalization = in.readEnum(Normalization.class);
    }

    /** Why these weights cannot weigh {@code count} sub-queries, or null when they can. */
    static String validate(int count, double[] weights) {
        if (count < 1 || count > MAX_QUERIES) {
            return "[" + NAME + "] [queries] must hold 1 to " + MAX_QUERIES + " queries, got " + count;
        }
        if (weights.length != count) {
            return "[" + NAME + "] [weights] has " + weights.length + " numbers for " + count + " queries; give one "
                + "weight per query";
        }
        double sum = 0;
        for (int i = 0; i < weights.length; i++) {
            if (!(weights[i] >= 0) || Double.isInfinite(weights[i])) {
                return "[" + NAME + "] [weights][" + i + "] must be a finite number >= 0, got [" + weights[i] + "]";
            }
            sum += weights[i];
        }
        if (!(sum > 0)) {
            return "[" + NAME + "] [weights] must not all be 0";
        }
        return null;
    }

    @Override
    protected void doWriteTo(StreamOutput out) throws IOException {
        if (tops != null) {
            throw new IllegalStateException("[" + NAME + "] the top-score searches were not awaited before sending the "
                + "query");
        }
        out.writeNamedWriteableList(queries);
        out.writeDoubleArray(weights);
        out.writeEnum(normalization);
    }

    @Override
    protected void doXContent(XContentBuilder builder, Params params) throws IOException {
        builder.startObject(NAME);
        builder.startArray("queries");
        for (QueryBuilder q : queries) {
            q.toXContent(builder, params);
        }
        builder.endArray();
        builder.array("weights", weights);
        builder.field("normalization", normalization.toString());
        printBoostAndQueryName(builder);
        builder.endObject();
    }

    public static NailHybridQueryBuilder fromXContent(XContentParser parser) throws IOException {
        List<QueryBuilder> queries = null;
        double[] weights = null;
        Normalization normalization = Normalization.MAX;
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
                throw new ParsingException(parser.getTokenLocation(), "[" + NAME + "] expects an object of fields");
            }
            switch (current) {
                case "queries" -> {
                    requireArray(parser, token, current);
                    queries = new ArrayList<>();
                    while ((token = parser.nextToken()) != XContentParser.Token.END_ARRAY) {
                        if (token != XContentParser.Token.START_OBJECT) {
                            throw new ParsingException(parser.getTokenLocation(), "[" + NAME + "] [queries][" + queries.size()
                                + "] must be a query object such as {\"match\": {...}}, got " + token);
                        }
                        queries.add(parseInnerQueryBuilder(parser));
                    }
                }
                case "weights" -> {
                    requireArray(parser, token, current);
                    List<Double> read = new ArrayList<>();
                    while ((token = parser.nextToken()) != XContentParser.Token.END_ARRAY) {
                        if (token != XContentParser.Token.VALUE_NUMBER) {
                            throw new ParsingException(parser.getTokenLocation(), "[" + NAME + "] [weights][" + read.size()
                                + "] must be a number, got " + token);
                        }
                        read.add(parser.doubleValue());
                    }
                    weights = read.stream().mapToDouble(Double::doubleValue).toArray();
                }
                case "normalization" -> {
                    if (token != XContentParser.Token.VALUE_STRING) {
                        throw new ParsingException(parser.getTokenLocation(), "[" + NAME + "] [normalization] must be a "
                            + "string (max or none), got " + token);
                    }
                    try {
                        normalization = Normalization.parse(parser.text());
                    } catch (IllegalArgumentException e) {
                        throw new ParsingException(parser.getTokenLocation(), e.getMessage());
                    }
                }
                case "boost" -> {
                    if (token != XContentParser.Token.VALUE_NUMBER) {
                        throw new ParsingException(parser.getTokenLocation(), "[" + NAME + "] [boost] must be a number, "
                            + "got " + token);
                    }
                    boost = parser.floatValue();
                    if (!(boost >= 0) || Float.isInfinite(boost)) {
                        throw new ParsingException(parser.getTokenLocation(), "[" + NAME + "] [boost] must be a finite "
                            + "number >= 0, got [" + parser.text() + "]");
                    }
                }
                case "_name" -> {
                    if (token != XContentParser.Token.VALUE_STRING) {
                        throw new ParsingException(parser.getTokenLocation(), "[" + NAME + "] [_name] must be a string, "
                            + "got " + token);
                    }
                    queryName = parser.text();
                }
                default -> throw new ParsingException(parser.getTokenLocation(), "[" + NAME + "] unknown field ["
                    + current + "]; expected queries, weights, normalization, boost or _name");
            }
        }
        if (queries == null) {
            throw new ParsingException(parser.getTokenLocation(), "[" + NAME + "] requires [queries], e.g. {\"" + NAME
                + "\": {\"queries\": [{\"match\": {\"text\": \"bone loss\"}}, {\"nail\": {...}}], \"weights\": [0.5, 0.5]}}");
        }
        if (weights == null) {  // equal weights: the sum of the normalized scores, scaled to at most 1
            weights = new double[queries.size()];
            Arrays.fill(weights, queries.isEmpty() ? 0 : 1.0 / queries.size());
        }
        String problem = validate(queries.size(), weights);
        if (problem != null) {
            throw new ParsingException(parser.getTokenLocation(), problem);
        }
        NailHybridQueryBuilder builder = new NailHybridQueryBuilder(queries, weights, normalization);
        builder.boost(boost);
        builder.queryName(queryName);
        return builder;
    }

    private static void requireArray(XContentParser parser, XContentParser.Token token, String name) {
        if (token != XContentParser.Token.START_ARRAY) {
            throw new ParsingException(parser.getTokenLocation(), "[" + NAME + "] [" + name + "] must be an array, got "
                + token);
        }
    }

    @Override
    protected QueryBuilder doRewrite(QueryRewriteContext context) throws IOException {
        if (normalization == Normalization.NONE) {
            return combined(weights);
        }
        if (tops != null) {
            for (int i = 0; i < queries.size(); i++) {
                if (tops.get(i) == null) {
                    return this;  // the searches have not answered yet
                }
            }
            return normalized();
        }
        // The sub-queries first: a lookup inside one (an uploaded nail model, a terms lookup) must finish before its
        // top score is searched, and each sub-query is then rewritten once, not once per search.
        List<QueryBuilder> rewritten = new ArrayList<>(queries.size());
        boolean changed = false;
        for (QueryBuilder q : queries) {
            QueryBuilder r = q.rewrite(context);
            changed |= r != q;
            rewritten.add(r);
        }
        if (changed) {
            return copy(rewritten);
        }
        QueryCoordinatorContext coordinator = context.convertToCoordinatorContext();
        if (coordinator == null || context.convertToShardContext() != null) {
            return this;  // no search can run from here: doToQuery says so
        }
        if (context.hasAsyncActions()) {
            return this;  // a lookup of a sub-query (or of another query) is pending: search after it has answered
        }
        IndicesRequest request = coordinator.getSearchRequest();
        NailHybridQueryBuilder next = copy(queries);
        next.tops = new AtomicReferenceArray<>(queries.size());
        for (int i = 0; i < queries.size(); i++) {
            if (weights[i] == 0) {
                next.tops.set(i, new Top(true, 0f));  // weighs nothing: no search needed
                continue;
            }
            int index = i;
            SearchRequest search = topScoreSearch(request, queries.get(i));
            context.registerAsyncAction((client, listener) -> client.search(search, ActionListener.wrap(response -> {
                next.tops.set(index, top(response, index));
                listener.onResponse(null);
            }, e -> listener.onFailure(subQueryFailure(index, e)))));
        }
        return next;
    }

    /** The size-1 search for the top score of {@code query} over what {@code request} searches. */
    static SearchRequest topScoreSearch(IndicesRequest request, QueryBuilder query) {
        SearchSourceBuilder source = new SearchSourceBuilder().query(query).size(1).trackTotalHits(false)
            .fetchSource(false);
        SearchRequest search = new SearchRequest(request.indices(), source).indicesOptions(request.indicesOptions())
            .allowPartialSearchResults(false)  // a top score missing shards would not be the top score
            .pipeline(SearchPipelineService.NOOP_PIPELINE_ID);  // the query as given, not as an index's default pipeline
        if (request instanceof SearchRequest outer) {
            // The same shards and the same term statistics (dfs) as the search whose scores are normalized.
            search.routing(outer.routing()).preference(outer.preference()).searchType(outer.searchType());
        }
        return search;
    }

    private Top top(SearchResponse response, int index) {
        if (response.getHits().getHits().length == 0) {
            return new Top(false, 0f);
        }
        float best = response.getHits().getHits()[0].getScore();
        if (!(best >= 0) || Float.isInfinite(best)) {
            throw new OpenSearchStatusException("[" + NAME + "] [queries][" + index + "] scored [" + best + "]; max "
                + "normalization needs finite scores >= 0", RestStatus.BAD_REQUEST);
        }
        return new Top(true, best);
    }

    /** A failed top-score search as the caller's error: its status (a bad sub-query is a 400) and first reason. */
    static Exception subQueryFailure(int index, Exception e) {
        String reason = e.getMessage();
        if (ExceptionsHelper.unwrapCause(e) instanceof SearchPhaseExecutionException phase
            && phase.shardFailures().length > 0) {
            ShardSearchFailure first = phase.shardFailures()[0];
            // The shard's own exception, not its transport wrapper: "[nail] field [text] is of type [text]; ..."
            reason = first.getCause() != null ? ExceptionsHelper.unwrapCause(first.getCause()).getMessage() : first.reason();
        }
        return new OpenSearchStatusException("[" + NAME + "] [queries][" + index + "] failed: " + reason,
            ExceptionsHelper.status(e), e);
    }

    /** This query with its top scores already found (what the searches of doRewrite fill in). */
    NailHybridQueryBuilder withTops(Top... found) {
        NailHybridQueryBuilder next = copy(queries);
        next.tops = new AtomicReferenceArray<>(found);
        return next;
    }

    /** The bool the query becomes once every top score is known. */
    QueryBuilder normalized() {
        double[] boosts = new double[queries.size()];
        for (int i = 0; i < queries.size(); i++) {
            Top t = tops.get(i);
            // No hit: the clause is dropped (NaN). A top score of 0 (every match scores 0): it matches, adds nothing.
            boosts[i] = !t.hit() ? Double.NaN : t.score() > 0 ? weights[i] / t.score() : 0;
        }
        return combined(boosts);
    }

    /** {@code bool.should} of each sub-query scaled by its boost (NaN: left out); match_none when none is left. */
    QueryBuilder combined(double[] boosts) {
        BoolQueryBuilder bool = new BoolQueryBuilder();
        for (int i = 0; i < queries.size(); i++) {
            if (Double.isNaN(boosts[i])) {
                continue;
            }
            // A bool of one must clause scores exactly as its clause, times its boost; the sub-query's own boost
            // stays where it was (its top score already includes it).
            bool.should(new BoolQueryBuilder().must(queries.get(i)).boost((float) boosts[i]));
        }
        QueryBuilder out = bool.should().isEmpty() ? new MatchNoneQueryBuilder() : bool;
        out.boost(boost);
        out.queryName(queryName);
        return out;
    }

    private NailHybridQueryBuilder copy(List<QueryBuilder> subQueries) {
        NailHybridQueryBuilder next = new NailHybridQueryBuilder(subQueries, weights, normalization);
        next.boost(boost);
        next.queryName(queryName);
        return next;
    }

    @Override
    protected Query doToQuery(QueryShardContext context) {
        throw new QueryShardException(context, "[" + NAME + "] with normalization [max] needs the coordinating node of "
            + "a search to find each sub-query's top score (_search, _msearch, search templates, _count, _explain, "
            + "_validate); it cannot run where a query reaches a shard without that step, as in an alias filter or "
            + "the percolator. Use \"normalization\": \"none\" there");
    }

    @Override
    public void visit(QueryBuilderVisitor visitor) {
        visitor.accept(this);
        QueryBuilderVisitor child = visitor.getChildVisitor(BooleanClause.Occur.SHOULD);
        for (QueryBuilder q : queries) {
            q.visit(child);
        }
    }

    @Override
    protected boolean doEquals(NailHybridQueryBuilder other) {
        return queries.equals(other.queries) && Arrays.equals(weights, other.weights)
            && normalization == other.normalization && tops == other.tops;
    }

    @Override
    protected int doHashCode() {
        return Objects.hash(queries, Arrays.hashCode(weights), normalization, tops);
    }

    @Override
    public String getWriteableName() {
        return NAME;
    }

    public List<QueryBuilder> queries() {
        return queries;
    }

    public double[] weights() {
        return weights.clone();
    }

    public Normalization normalization() {
        return normalization;
    }
}
