package org.nailos.opensearch;

import org.opensearch.cluster.metadata.IndexNameExpressionResolver;
import org.opensearch.cluster.node.DiscoveryNodes;
import org.opensearch.common.settings.ClusterSettings;
import org.opensearch.common.settings.IndexScopedSettings;
import org.opensearch.common.settings.Settings;
import org.opensearch.common.settings.SettingsFilter;
import org.opensearch.indices.SystemIndexDescriptor;
import org.opensearch.plugins.Plugin;
import org.opensearch.plugins.SearchPlugin;
import org.opensearch.plugins.SystemIndexPlugin;
import org.opensearch.rest.RestController;
import org.opensearch.rest.RestHandler;

import java.nio.file.Path;
import java.util.Collection;
import java.util.List;
import java.util.function.Supplier;

/**
 * Registers the {@code nail} query, the {@code nail_hybrid} compound query (normalized sub-scores, weighted) and
 * the models API. A model is a folder {@code <config>/nail/models/<name>/}
 * on each node, or a document of the system index {@value SystemModels#INDEX} that PUT _plugins/nail/models
 * wrote once for the whole cluster (the folder wins when both exist).
 */
public class NailPlugin extends Plugin implements SearchPlugin, SystemIndexPlugin {

    private final ModelRegistry models;
    private final SystemModels uploaded = new SystemModels();

    public NailPlugin(Settings settings, Path configPath) {
        this.models = new ModelRegistry(configPath.resolve("nail").resolve("models"), SystemModels::parseJson);
    }

    @Override
    public List<QuerySpec<?>> getQueries() {
        return List.of(new QuerySpec<>(NailQueryBuilder.NAME, in -> new NailQueryBuilder(in, models, uploaded),
            parser -> NailQueryBuilder.fromXContent(parser, models, uploaded)),
            new QuerySpec<>(NailHybridQueryBuilder.NAME, NailHybridQueryBuilder::new, NailHybridQueryBuilder::fromXContent));
    }

    @Override
    public List<RestHandler> getRestHandlers(Settings settings, RestController controller, ClusterSettings cluster,
                                             IndexScopedSettings indexScoped, SettingsFilter filter,
                                             IndexNameExpressionResolver resolver, Supplier<DiscoveryNodes> nodes) {
        return List.of(new RestNailModelsAction(uploaded, models));
    }

    @Override
    public Collection<SystemIndexDescriptor> getSystemIndexDescriptors(Settings settings) {
        return List.of(new SystemIndexDescriptor(SystemModels.INDEX, "nail-os models uploaded for the nail query"));
    }
}
