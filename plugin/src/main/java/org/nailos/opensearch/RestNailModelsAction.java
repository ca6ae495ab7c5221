package org.nailos.opensearch;

import org.opensearch.action.search.SearchRequest;
import org.opensearch.common.xcontent.XContentFactory;
import org.opensearch.core.action.ActionListener;
import org.opensearch.core.rest.RestStatus;
import org.opensearch.core.xcontent.XContentBuilder;
import org.opensearch.core.xcontent.XContentParser;
import org.opensearch.index.IndexNotFoundException;
import org.opensearch.rest.BaseRestHandler;
import org.opensearch.rest.BytesRestResponse;
import org.opensearch.rest.RestChannel;
import org.opensearch.rest.RestRequest;
import org.opensearch.search.builder.SearchSourceBuilder;
import org.opensearch.search.SearchHit;
import org.opensearch.transport.client.node.NodeClient;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.opensearch.rest.RestRequest.Method.DELETE;
import static org.opensearch.rest.RestRequest.Method.GET;
import static org.opensearch.rest.RestRequest.Method.PUT;

/**
 * {@code PUT _plugins/nail/models/<name>} with {@code {"tokenizer": <tokenizer.json>, "query_weights": {...}}}
 * stores a model for the whole cluster; {@code GET _plugins/nail/models[/<name>]} lists or describes them;
 * {@code DELETE _plugins/nail/models/<name>} removes one. Models in config/nail/models/ are not listed here.
 */
public class RestNailModelsAction extends BaseRestHandler {

    static final String PATH = "/_plugins/nail/models";
    private final SystemModels store;
    private final ModelRegistry files;

    public RestNailModelsAction(SystemModels store, ModelRegistry files) {
        this.store = store;
        this.files = files;
    }

    @Override
    public String getName() {
        return "nail_models";
    }

    @Override
    public List<Route> routes() {
        return List.of(new Route(PUT, PATH + "/{name}"), new Route(GET, PATH + "/{name}"), new Route(GET, PATH),
            new Route(DELETE, PATH + "/{name}"));
    }

    @Override
    protected RestChannelConsumer prepareRequest(RestRequest request, NodeClient client) throws IOException {
        String name = request.param("name");
        if (name != null) {
            files.checkName(name);  // IllegalArgumentException: a 400
        }
        return switch (request.method()) {
            case PUT -> put(request, client, name);
            case DELETE -> channel -> store.delete(client, name, ActionListener.wrap(
                deleted -> reply(channel, RestStatus.OK, Map.of("acknowledged", true, "model", name)),
                e -> fail(channel, e)));
            default -> name == null ? list(client) : channel -> store.get(client, name, ActionListener.wrap(
                model -> reply(channel, RestStatus.OK, Map.of("model", name,
                    "vocab_size", model.tokenizer().vocabSize(), "query_weights", model.weightCount())),
                e -> fail(channel, e)));
        };
    }

    @SuppressWarnings("unchecked")
    private RestChannelConsumer put(RestRequest request, NodeClient client, String name) throws IOException {
        if (!request.hasContent()) {
            throw new IllegalArgumentException("[nail] PUT " + PATH + "/" + name + " needs a body: "
                + "{\"tokenizer\": <tokenizer.json>, \"query_weights\": <query_weights.json>}");
        }
        Map<String, Object> body;
        try (XContentParser parser = request.contentParser()) {
            body = parser.map();
        }
        Object tokenizer = body.get(SystemModels.TOKENIZER);
        Object weights = body.getOrDefault(SystemModels.QUERY_WEIGHTS, Map.of());
        for (String key : body.keySet()) {
            if (!key.equals(SystemModels.TOKENIZER) && !key.equals(SystemModels.QUERY_WEIGHTS)) {
                throw new IllegalArgumentException("[nail] unknown field [" + key + "] in the model body; expected "
                    + "tokenizer and query_weights");
            }
        }
        if (!(tokenizer instanceof Map) || !(weights instanceof Map)) {
            throw new IllegalArgumentException("[nail] the model body needs \"tokenizer\" (the object of "
                + "tokenizer.json) and optionally \"query_weights\" (an object of token id: weight)");
        }
        // Validated here, before anything is stored: a model the query could not load is refused with a 400.
        NailModel model = NailModel.fromJson((Map<String, Object>) tokenizer, (Map<String, Object>) weights,
            "model [" + name + "]");
        String tokenizerText = json((Map<String, Object>) tokenizer);
        String weightsText = json((Map<String, Object>) weights);
        return channel -> store.put(client, name, tokenizerText, weightsText, ActionListener.wrap(
            ok -> reply(channel, RestStatus.OK, Map.of("acknowledged", true, "model", name,
                "vocab_size", model.tokenizer().vocabSize(), "query_weights", model.weightCount())),
            e -> fail(channel, e)));
    }

    private RestChannelConsumer list(NodeClient client) {
        SearchRequest search = new SearchRequest(SystemModels.INDEX)
            .source(new SearchSourceBuilder().fetchSource(false).size(1000));
        return channel -> client.search(search, ActionListener.wrap(response -> {
            List<String> names = new ArrayList<>();
            for (SearchHit hit : response.getHits().getHits()) {
                names.add(hit.getId());
            }
            names.sort(null);
            reply(channel, RestStatus.OK, Map.of("models", names));
        }, e -> {
            if (!(e instanceof IndexNotFoundException)) {
                fail(channel, e);
                return;
            }
            try {
                reply(channel, RestStatus.OK, Map.of("models", List.of()));  // nothing uploaded yet
            } catch (IOException io) {
                fail(channel, io);
            }
        }));
    }

    private static String json(Map<String, Object> map) throws IOException {
        try (XContentBuilder b = XContentFactory.jsonBuilder()) {
            return b.map(map).toString();
        }
    }

    private static void reply(RestChannel channel, RestStatus status, Map<String, Object> body) throws IOException {
        try (XContentBuilder b = channel.newBuilder()) {
            channel.sendResponse(new BytesRestResponse(status, b.map(body)));
        }
    }

    private static void fail(RestChannel channel, Exception e) {
        try {
            channel.sendResponse(new BytesRestResponse(channel, e));
        } catch (IOException inner) {
            e.addSuppressed(inner);
        }
    }
}
