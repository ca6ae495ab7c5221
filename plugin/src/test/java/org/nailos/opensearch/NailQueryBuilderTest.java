package org.nailos.opensearch;

import org.junit.Test;
import org.opensearch.common.io.stream.BytesStreamOutput;
import org.opensearch.common.xcontent.json.JsonXContent;
import org.opensearch.core.common.ParsingException;
import org.opensearch.core.common.io.stream.StreamInput;
import org.opensearch.core.xcontent.DeprecationHandler;
import org.opensearch.core.xcontent.NamedXContentRegistry;
import org.opensearch.core.xcontent.ToXContent;
import org.opensearch.core.xcontent.XContentBuilder;
import org.opensearch.core.xcontent.XContentParser;

import java.io.IOException;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

/** The query's wire and JSON forms: what crosses nodes and shards must come back equal. */
public class NailQueryBuilderTest {

    // A registry over the folder holding the shipped model: its sub-folder nail-minilm is a model.
    static final ModelRegistry MODELS = new ModelRegistry(BertTokenizerTest.MODEL_DIR.toAbsolutePath().getParent(),
        SystemModels::parseJson);

    static NailQueryBuilder parse(String json) throws IOException {
        try (XContentParser p = JsonXContent.jsonXContent.createParser(NamedXContentRegistry.EMPTY,
            DeprecationHandler.THROW_UNSUPPORTED_OPERATION, json)) {
            p.nextToken();  // START_OBJECT, where the query registry hands over
            return NailQueryBuilder.fromXContent(p, MODELS, null);
        }
    }

    @Test
    public void streamRoundTrip() throws IOException {
        NailQueryBuilder q = new NailQueryBuilder("nail", "vitamin d and bone loss", "nail-minilm", 512, MODELS, null);
        q.boost(2.5f);
        q.queryName("n");
        BytesStreamOutput out = new BytesStreamOutput();
        q.writeTo(out);
        try (StreamInput in = out.bytes().streamInput()) {
            NailQueryBuilder back = new NailQueryBuilder(in, MODELS, null);
            assertEquals(q, back);
            assertEquals(q.hashCode(), back.hashCode());
            assertEquals(2.5f, back.boost(), 0f);
            assertEquals("n", back.queryName());
        }
    }

    @Test
    public void tokenizedFormCrossesTheWire() throws IOException {
        NailQueryBuilder q = new NailQueryBuilder("nail", "coffee coffee tea", "nail-minilm", null, MODELS, null)
            .resolved(MODELS.get("nail-minilm"));
        BytesStreamOutput out = new BytesStreamOutput();
        q.writeTo(out);
        try (StreamInput in = out.bytes().streamInput()) {
            assertEquals(q, new NailQueryBuilder(in, MODELS, null));
        }
    }

    @Test
    public void jsonRoundTrip() throws IOException {
        NailQueryBuilder q = parse("{\"field\": \"nail\", \"query\": \"vitamin d\", \"model\": \"nail-minilm\", "
            + "\"boost\": 1.5, \"max_clauses\": 7}");
        XContentBuilder b = JsonXContent.contentBuilder();
        b.startObject();
        q.doXContent(b, ToXContent.EMPTY_PARAMS);
        b.endObject();
        String json = b.toString();
        String inner = json.substring(json.indexOf(":") + 1, json.length() - 1);
        assertEquals(q, parse(inner));
        assertEquals(Integer.valueOf(7), q.maxClauses());
    }

    @Test
    public void badInputNamesTheProblem() {
        assertTrue(assertThrows(ParsingException.class, () -> parse("{\"field\": \"nail\", \"query\": 5, "
            + "\"model\": \"nail-minilm\"}")).getMessage().contains("[query] must be a string"));
        assertTrue(assertThrows(ParsingException.class, () -> parse("{\"field\": \"nail\", \"query\": \"x\", "
            + "\"model\": \"nope\"}")).getMessage().contains("unknown model [nope]"));
        assertTrue(assertThrows(ParsingException.class, () -> parse("{\"field\": \"nail\", \"query\": \"x\", "
            + "\"model\": \"../etc\"}")).getMessage().contains("not valid"));
        assertTrue(assertThrows(ParsingException.class, () -> parse("{\"field\": \"nail\", \"query\": \"x\"}"))
            .getMessage().contains("requires [model]"));
        assertTrue(assertThrows(ParsingException.class, () -> parse("{\"field\": \"nail\", \"query\": \"x\", "
            + "\"model\": \"nail-minilm\", \"max_clauses\": 0}")).getMessage().contains("max_clauses"));
        assertTrue(assertThrows(ParsingException.class, () -> parse("{\"field\": \"nail\", \"query\": \"x\", "
            + "\"model\": \"nail-minilm\", \"colour\": 1}")).getMessage().contains("unknown field [colour]"));
    }

    @Test
    public void idfIsBm25s() {
        assertEquals(Math.log1p((10 - 2 + 0.5) / (2 + 0.5)), NailQueryBuilder.idf(10, 2), 0.0);
    }
}
