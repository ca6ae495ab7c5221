package org.nailos.opensearch;

import org.junit.BeforeClass;
import org.junit.Test;
import org.opensearch.common.xcontent.json.JsonXContent;
import org.opensearch.core.xcontent.DeprecationHandler;
import org.opensearch.core.xcontent.NamedXContentRegistry;
import org.opensearch.core.xcontent.XContentParser;

import java.io.BufferedReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

/** The shipped model's tokenizer: hand-checked cases, and every fixture the Python side wrote with `tokenizers`. */
public class BertTokenizerTest {

    /** The shipped model, or -Dnail.model.dir (tests/integration/test_plugin.py builds in a copy of plugin/). */
    static final Path MODEL_DIR = Paths.get(System.getProperty("nail.model.dir",
        Paths.get("..", "nail_os", "checkpoints", "nail-minilm").toString()));
    static NailModel model;

    @BeforeClass
    public static void load() throws Exception {
        model = NailModel.load(MODEL_DIR, SystemModels::parseJson);
    }

    private List<String> tokens(String text) {
        BertTokenizer tok = model.tokenizer();
        List<String> out = new ArrayList<>();
        for (int id : tok.encode(text)) {
            out.add(Integer.toString(id));
        }
        return out;
    }

    @Test
    public void bertBasics() {
        // "u.s. coffee, coffee" -> u . s . coffee , coffee (bert-base-uncased ids, as tokens.py's docstring shows)
        assertEquals(List.of("1057", "1012", "1055", "1012", "4157", "1010", "4157"), tokens("U.S. Coffee, coffee"));
        assertEquals(tokens("cafe"), tokens("Café"));              // accents stripped after NFD
        assertEquals(List.of("100"), tokens("a".repeat(101)));     // over max_input_chars_per_word: [UNK]
        assertEquals(List.of("101", "4157"), tokens("[CLS]coffee"));  // added tokens match in the raw text
        assertEquals(tokens("coffee"), tokens("cof\u0000\u200bfee"));  // control and format characters removed
        assertTrue(tokens("").isEmpty());
    }

    @Test
    public void queryTokensMergeDuplicatesAndDropSpecials() {
        List<NailModel.Token> q = model.tokenizeQuery("[CLS] coffee coffee tea", model::modelWeight);
        assertEquals(2, q.size());
        assertEquals(4157, q.get(0).id());
        assertEquals(2, q.get(0).count());
        assertEquals(2 * model.modelWeight(4157), q.get(0).boost(), 0.0);
    }

    @Test
    public void pruningKeepsHeaviestThenSmallerId() {
        List<NailModel.Token> t = List.of(new NailModel.Token(5, 1, 1.0), new NailModel.Token(3, 1, 2.0),
            new NailModel.Token(4, 1, 1.0), new NailModel.Token(2, 1, 1.0));
        List<NailModel.Token> kept = NailModel.selectTokens(t, 2);
        assertEquals(3, kept.get(0).id());
        assertEquals(2, kept.get(1).id());
        assertEquals(t, NailModel.selectTokens(t, 4));
    }

    /** Lines of {"text": ..., "ids": [...]} written by tests/integration/test_plugin.py with `tokenizers`. */
    @Test
    public void fixturesMatchHuggingFaceTokenizers() throws Exception {
        String fixtures = System.getProperty("nail.fixtures", "");
        if (fixtures.isEmpty()) {
            return;  // run without fixtures (plain `mvn test`): the cases above only
        }
        int checked = 0;
        int differ = 0;
        List<String> failures = new ArrayList<>();
        try (BufferedReader reader = Files.newBufferedReader(Paths.get(fixtures), StandardCharsets.UTF_8)) {
            String line;
            while ((line = reader.readLine()) != null) {
                Map<String, Object> row;
                try (XContentParser p = JsonXContent.jsonXContent.createParser(NamedXContentRegistry.EMPTY,
                    DeprecationHandler.THROW_UNSUPPORTED_OPERATION, line)) {
                    row = p.map();
                }
                String text = (String) row.get("text");
                List<Integer> expected = new ArrayList<>();
                for (Object id : (List<?>) row.get("ids")) {
                    expected.add(((Number) id).intValue());
                }
                List<Integer> actual = model.tokenizer().encode(text);
                if (!expected.equals(actual) && ++differ <= 20) {
                    failures.add("text " + escape(text) + ": tokenizers " + expected + ", plugin " + actual);
                }
                checked++;
            }
        }
        if (!failures.isEmpty()) {
            fail(differ + " fixture(s) of " + checked + " differ (first 20):\n" + String.join("\n", failures));
        }
        assertTrue("no fixture in " + fixtures, checked > 0);
        System.out.println("nail tokenizer parity: " + checked + " texts identical");
    }

    private static String escape(String s) {
        StringBuilder b = new StringBuilder("\"");
        s.codePoints().limit(200).forEach(c -> {
            if (c >= 0x20 && c < 0x7F) {
                b.append((char) c);
            } else {
                b.append(String.format("\\u{%x}", c));
            }
        });
        return b.append('"').toString();
    }
}
