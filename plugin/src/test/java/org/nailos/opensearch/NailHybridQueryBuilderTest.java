package org.nailos.opensearch;

import org.junit.Test;
import org.nailos.opensearch.NailHybridQueryBuilder.Top;
import org.opensearch.action.search.SearchRequest;
import org.opensearch.action.search.SearchType;
import org.opensearch.common.io.stream.BytesStreamOutput;
import org.opensearch.common.settings.Settings;
import org.opensearch.common.xcontent.json.JsonXContent;
import org.opensearch.core.common.ParsingException;
import org.opensearch.core.common.io.stream.NamedWriteableAwareStreamInput;
import org.opensearch.core.common.io.stream.NamedWriteableRegistry;
import org.opensearch.core.common.io.stream.StreamInput;
import org.opensearch.core.xcontent.DeprecationHandler;
import org.opensearch.core.xcontent.NamedXContentRegistry;
import org.opensearch.core.xcontent.ToXContent;
import org.opensearch.core.xcontent.XContentBuilder;
import org.opensearch.core.xcontent.XContentParser;
import org.opensearch.index.query.BoolQueryBuilder;
import org.opensearch.index.query.MatchNoneQueryBuilder;
import org.opensearch.index.query.MatchQueryBuilder;
import org.opensearch.index.query.QueryBuilder;
import org.opensearch.index.query.TermQueryBuilder;
import org.opensearch.plugins.SearchPlugin;
import org.opensearch.search.SearchModule;

import java.io.IOException;
import java.util.List;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

/** nail_hybrid's JSON and wire forms, its validation, and the bool it becomes once the top scores are known. */
public class NailHybridQueryBuilderTest {

    // The node's own query registry (match, term, bool, ...) plus nail_hybrid, as the plugin registers it.
    static final SearchModule SEARCH = new SearchModule(Settings.EMPTY, List.of(new SearchPlugin() {
        @Override
        public List<QuerySpec<?>> getQueries() {
            return List.of(new QuerySpec<>(NailHybridQueryBuilder.NAME, NailHybridQueryBuilder::new,
                NailHybridQueryBuilder::fromXContent));
        }
    }));
    static final NamedXContentRegistry XCONTENT = new NamedXContentRegistry(SEARCH.getNamedXContents());
    static final NamedWriteableRegistry WRITEABLES = new NamedWriteableRegistry(SEARCH.getNamedWriteables());

    static NailHybridQueryBuilder parse(String json) throws IOException {
        try (XContentParser p = JsonXContent.jsonXContent.createParser(XCONTENT,
            DeprecationHandler.THROW_UNSUPPORTED_OPERATION, json)) {
            p.nextToken();  // START_OBJECT, where the query registry hands over
            return NailHybridQueryBuilder.fromXContent(p);
        }
    }

    static final String TWO = "{\"queries\": [{\"match\": {\"text\": \"bone loss\"}}, {\"term\": {\"tag\": \"x\"}}], ";

    static String message(String json) {
        return assertThrows(ParsingException.class, () -> parse(json)).getMessage();
    }

    @Test
    public void parsesQueriesWeightsAndNormalization() throws IOException {
        NailHybridQueryBuilder q = parse(TWO + "\"weights\": [0.7, 0.3], \"normalization\": \"max\", \"boost\": 2, "
            + "\"_name\": \"h\"}");
        assertEquals(2, q.queries().size());
        assertTrue(q.queries().get(0) instanceof MatchQueryBuilder);
        assertTrue(q.queries().get(1) instanceof TermQueryBuilder);
        assertArrayEquals(new double[] {0.7, 0.3}, q.weights(), 0.0);
        assertEquals(NailHybridQueryBuilder.Normalization.MAX, q.normalization());
        assertEquals(2f, q.boost(), 0f);
        assertEquals("h", q.queryName());
    }

    @Test
    public void defaultsAreEqualWeightsAndMax() throws IOException {
        NailHybridQueryBuilder q = parse("{\"queries\": [{\"match_all\": {}}, {\"match_all\": {}}, {\"match_all\": {}}]}");
        assertArrayEquals(new double[] {1 / 3.0, 1 / 3.0, 1 / 3.0}, q.weights(), 0.0);
        assertEquals(NailHybridQueryBuilder.Normalization.MAX, q.normalization());
    }

    @Test
    public void jsonRoundTrip() throws IOException {
        NailHybridQueryBuilder q = parse(TWO + "\"weights\": [0.25, 1.5], \"normalization\": \"none\", \"boost\": 3}");
        XContentBuilder b = JsonXContent.contentBuilder();
        b.startObject();
        q.doXContent(b, ToXContent.EMPTY_PARAMS);
        b.endObject();
        String json = b.toString();
        String inner = json.substring(json.indexOf(":") + 1, json.length() - 1);
        assertEquals(q, parse(inner));
    }

    @Test
    public void streamRoundTrip() throws IOException {
        // What crosses nodes: the sub-queries as named writeables, the weights and the normalization.
        NailHybridQueryBuilder q = parse(TWO + "\"weights\": [0.5, 0.5], \"_name\": \"n\", \"boost\": 1.5}");
        BytesStreamOutput out = new BytesStreamOutput();
        out.writeNamedWriteable(q);
        try (StreamInput in = new NamedWriteableAwareStreamInput(out.bytes().streamInput(), WRITEABLES)) {
            QueryBuilder back = in.readNamedWriteable(QueryBuilder.class);
            assertEquals(q, back);
            assertEquals(q.hashCode(), back.hashCode());
            assertEquals(1.5f, back.boost(), 0f);
            assertEquals("n", back.queryName());
        }
    }

    @Test
    public void badInputNamesTheFieldAndTheProblem() {
        assertTrue(message(TWO + "\"weights\": [0.5]}").contains("[weights] has 1 numbers for 2 queries"));
        assertTrue(message(TWO + "\"weights\": [0.5, -1]}").contains("[weights][1] must be a finite number >= 0"));
        assertTrue(message(TWO + "\"weights\": [0, 0]}").contains("[weights] must not all be 0"));
        assertTrue(message(TWO + "\"weights\": [0.5, \"a\"]}").contains("[weights][1] must be a number"));
        assertTrue(message(TWO + "\"weights\": 0.5}").contains("[weights] must be an array"));
        assertTrue(message(TWO + "\"normalization\": \"min_max\"}").contains("[normalization] must be one of [max, none]"));
        assertTrue(message(TWO + "\"normalization\": 1}").contains("[normalization] must be a string"));
        assertTrue(message(TWO + "\"colour\": 1}").contains("unknown field [colour]"));
        assertTrue(message(TWO + "\"boost\": -1}").contains("[boost] must be a finite number >= 0"));
        assertTrue(message("{\"weights\": [1]}").contains("requires [queries]"));
        assertTrue(message("{\"queries\": []}").contains("[queries] must hold 1 to 5 queries, got 0"));
        assertTrue(message("{\"queries\": [1]}").contains("[queries][0] must be a query object"));
        assertTrue(message("{\"queries\": {\"match_all\": {}}}").contains("[queries] must be an array"));
        String six = "{\"queries\": [" + "{\"match_all\": {}},".repeat(5) + "{\"match_all\": {}}]}";
        assertTrue(message(six).contains("got 6"));
    }

    @Test
    public void topScoreSearchFollowsTheOuterRequest() {
        SearchRequest outer = new SearchRequest("a", "b*").routing("r").preference("_local")
            .searchType(SearchType.DFS_QUERY_THEN_FETCH);
        SearchRequest top = NailHybridQueryBuilder.topScoreSearch(outer, new TermQueryBuilder("tag", "x"));
        assertArrayEquals(new String[] {"a", "b*"}, top.indices());
        assertEquals("r", top.routing());
        assertEquals("_local", top.preference());
        assertEquals(SearchType.DFS_QUERY_THEN_FETCH, top.searchType());
        assertEquals(1, top.source().size());
        assertEquals(Boolean.FALSE, top.allowPartialSearchResults());
        assertEquals("_none", top.pipeline());
    }

    @Test
    public void becomesABoolOfBoostedClauses() throws IOException {
        NailHybridQueryBuilder q = parse(TWO + "\"weights\": [0.7, 0.3], \"boost\": 2}");
        BoolQueryBuilder bool = (BoolQueryBuilder) q.withTops(new Top(true, 14f), new Top(true, 0.5f)).normalized();
        assertEquals(2f, bool.boost(), 0f);
        assertEquals(2, bool.should().size());
        assertEquals((float) (0.7 / 14), bool.should().get(0).boost(), 0f);
        assertEquals((float) (0.3 / 0.5), bool.should().get(1).boost(), 0f);
        assertEquals(q.queries().get(0), ((BoolQueryBuilder) bool.should().get(0)).must().get(0));
    }

    @Test
    public void aSubQueryWithNoHitIsDropped() throws IOException {
        NailHybridQueryBuilder q = parse(TWO + "\"weights\": [0.5, 0.5]}");
        BoolQueryBuilder bool = (BoolQueryBuilder) q.withTops(new Top(false, 0f), new Top(true, 2f)).normalized();
        assertEquals(1, bool.should().size());
        assertEquals(q.queries().get(1), ((BoolQueryBuilder) bool.should().get(0)).must().get(0));
        assertTrue(q.withTops(new Top(false, 0f), new Top(false, 0f)).normalized() instanceof MatchNoneQueryBuilder);  // an empty bool would match everything
    }
}
