package org.nailos.opensearch;

import org.opensearch.ResourceAlreadyExistsException;
import org.opensearch.action.admin.indices.create.CreateIndexRequest;
import org.opensearch.action.delete.DeleteRequest;
import org.opensearch.action.get.GetRequest;
import org.opensearch.action.get.GetResponse;
import org.opensearch.action.index.IndexRequest;
import org.opensearch.action.support.WriteRequest;
import org.opensearch.common.xcontent.json.JsonXContent;
import org.opensearch.core.action.ActionListener;
import org.opensearch.core.xcontent.DeprecationHandler;
import org.opensearch.core.xcontent.NamedXContentRegistry;
import org.opensearch.core.xcontent.XContentParser;
import org.opensearch.index.IndexNotFoundException;
import org.opensearch.search.fetch.subphase.FetchSourceContext;
import org.opensearch.transport.client.Client;

import java.io.IOException;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Models uploaded through {@code PUT _plugins/nail/models/<name>}, one document per model in the system index
 * {@value #INDEX}, so one upload reaches every node. Each node caches a parsed model with the document's sequence
 * number and primary term; a query asks for those (a get without source) and parses the model again only when
 * they changed. A replacement is one index operation, so no query sees half a model.
 */
public final class SystemModels {

    public static final String INDEX = ".nail-models";
    static final String TOKENIZER = "tokenizer";
    static final String QUERY_WEIGHTS = "query_weights";
    /** The model text is kept in _source only: nothing in it is searched. */
    private static final String MAPPING = "{\"dynamic\": false, \"properties\": {}}";

    private record Cached(long seqNo, long primaryTerm, NailModel model) {}

    private final Map<String, Cached> cache = new ConcurrentHashMap<>();

    /** The model called {@code name}, or IllegalArgumentException "unknown model" if none was uploaded. */
    public void get(Client client, String name, ActionListener<NailModel> listener) {
        GetRequest probe = new GetRequest(INDEX, name).realtime(true).fetchSourceContext(FetchSourceContext.DO_NOT_FETCH_SOURCE);
        client.get(probe, ActionListener.wrap(head -> {
            if (!head.isExists()) {
                listener.onFailure(unknown(name));
                return;
            }
            Cached cached = cache.get(name);
            if (cached != null && cached.seqNo == head.getSeqNo() && cached.primaryTerm == head.getPrimaryTerm()) {
                listener.onResponse(cached.model);
                return;
            }
            client.get(new GetRequest(INDEX, name).realtime(true), ActionListener.wrap(doc -> {
                if (!doc.isExists()) {
                    listener.onFailure(unknown(name));
                    return;
                }
                NailModel model = parse(doc, name);
                cache.put(name, new Cached(doc.getSeqNo(), doc.getPrimaryTerm(), model));
                listener.onResponse(model);
            }, listener::onFailure));
        }, e -> listener.onFailure(e instanceof IndexNotFoundException ? unknown(name) : e)));
    }

    private static NailModel parse(GetResponse doc, String name) throws IOException {
        Map<String, Object> source = doc.getSourceAsMap();
        return NailModel.fromJsonText((String) source.get(TOKENIZER), (String) source.get(QUERY_WEIGHTS),
            "model [" + name + "] in " + INDEX, SystemModels::parseJson);
    }

    static IllegalArgumentException unknown(String name) {
        return new IllegalArgumentException("[nail] unknown model [" + name + "]: no folder config/nail/models/" + name
            + " on this node and no model uploaded with PUT _plugins/nail/models/" + name);
    }

    /** Store a validated model (the texts of tokenizer.json and query_weights.json), creating the index once. */
    public void put(Client client, String name, String tokenizerJson, String weightsJson, ActionListener<Void> listener) {
        CreateIndexRequest create = new CreateIndexRequest(INDEX).mapping(MAPPING)
            .settings(Map.of("index.number_of_shards", 1, "index.auto_expand_replicas", "0-all", "index.hidden", true));
        Runnable index = () -> client.index(new IndexRequest(INDEX).id(name)
                .source(Map.of(TOKENIZER, tokenizerJson, QUERY_WEIGHTS, weightsJson))
                .setRefreshPolicy(WriteRequest.RefreshPolicy.WAIT_UNTIL),
            ActionListener.wrap(r -> listener.onResponse(null), listener::onFailure));
        client.admin().indices().create(create, ActionListener.wrap(r -> index.run(), e -> {
            if (e instanceof ResourceAlreadyExistsException) {
                index.run();
            } else {
                listener.onFailure(e);
            }
        }));
    }

    public void delete(Client client, String name, ActionListener<Boolean> listener) {
        client.delete(new DeleteRequest(INDEX, name).setRefreshPolicy(WriteRequest.RefreshPolicy.WAIT_UNTIL),
            ActionListener.wrap(r -> {
                cache.remove(name);
                listener.onResponse(r.getResult() == org.opensearch.action.DocWriteResponse.Result.DELETED);
            }, e -> listener.onFailure(e instanceof IndexNotFoundException ? unknown(name) : e)));
    }

    static Map<String, Object> parseJson(String text) throws IOException {
        try (XContentParser parser = JsonXContent.jsonXContent.createParser(NamedXContentRegistry.EMPTY,
            DeprecationHandler.THROW_UNSUPPORTED_OPERATION, text)) {
            return parser.map();
        }
    }
}
