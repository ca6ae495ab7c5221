package org.nailos.elasticsearch;

import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.plugins.Plugin;
import org.elasticsearch.plugins.SearchPlugin;
import org.elasticsearch.xcontent.XContentParser;
import org.elasticsearch.xcontent.XContentParserConfiguration;
import org.elasticsearch.xcontent.json.JsonXContent;
import org.nailos.opensearch.ModelRegistry;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * Registers the {@code nail} query on Elasticsearch 8. A model is a folder {@code <config>/nail/models/<name>/}
 * with tokenizer.json and query_weights.json on every node (the kit copies the shipped one there); unlike the
 * OpenSearch plugin there is no upload API: Elasticsearch's system indices need an x-pack style feature
 * registration that this plugin does not attempt.
 */
public class NailPlugin extends Plugin implements SearchPlugin {

    private final ModelRegistry models;

    public NailPlugin(Settings settings, Path configPath) {
        this.models = new ModelRegistry(configPath.resolve("nail").resolve("models"), NailPlugin::parseJson);
    }

    @Override
    public List<QuerySpec<?>> getQueries() {
        return List.of(new QuerySpec<>(NailQueryBuilder.NAME, in -> new NailQueryBuilder(in, models),
            parser -> NailQueryBuilder.fromXContent(parser, models)));
    }

    static Map<String, Object> parseJson(String text) throws IOException {
        try (XContentParser parser = JsonXContent.jsonXContent.createParser(XContentParserConfiguration.EMPTY, text)) {
            return parser.map();
        }
    }
}
