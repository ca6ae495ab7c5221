"""`nail-os plugin build|install|status`: the nail plugin for OpenSearch or Elasticsearch (see
`nail_os.server.plugin`)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from nail_os.cli.server import _ServerGroup

engine_option = click.option("--engine", type=click.Choice(["opensearch", "elasticsearch"]), default="opensearch",
                             show_default=True, help="Which engine's plugin (Elasticsearch: plugin/elasticsearch/).")


@click.group(cls=_ServerGroup)
def plugin() -> None:
    """The nail plugin: plain-text `nail` queries, tokenized and weighted inside OpenSearch or Elasticsearch.

    `nail-os server start` (--engine elasticsearch too) builds and installs it into the local node by itself.

    \b
    Example:
      nail-os plugin build && nail-os plugin status
    """


@plugin.command()
@engine_option
def build(engine: str) -> None:
    """Build the plugin zip with mvn (cached by version and source hash) and print its path.

    \b
    Example:
      nail-os plugin build --engine elasticsearch
    """
    from nail_os.server.java import select_release
    from nail_os.server.plugin import build_plugin, plugin_source

    _, jdk = select_release(engine=engine)
    click.echo(str(build_plugin(jdk, plugin_source(engine=engine), show_progress=True)))


@plugin.command()
@click.option("--opensearch-home", "--elasticsearch-home", "engine_home", default=None,
              type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="An OpenSearch (Elasticsearch) folder on this machine: run its bin/<engine>-plugin and copy the "
                   "shipped models into its config/nail/models/ [default: the kit's local node].")
@engine_option
def install(engine_home: Path | None, engine: str) -> None:
    """Install the plugin, then print the zip and the command that installs it on other machines' nodes.

    \b
    Example:
      nail-os plugin install --opensearch-home /usr/share/opensearch
    """
    from nail_os.server.assemble import assemble
    from nail_os.server.java import select_release
    from nail_os.server.plugin import build_plugin, install_plugin, plugin_source, with_plugin

    release, jdk = select_release(engine=engine)
    source = plugin_source(engine=engine)
    zip_path = build_plugin(jdk, source, show_progress=True)
    if engine_home:
        install_plugin(engine_home, jdk, zip_path, engine=engine)
        click.echo(f"installed into {engine_home}; restart its node", err=True)
    else:
        if source.engine_version != release.version:
            raise click.ClickException(f"the plugin is built for {engine} {source.engine_version}; the local "
                                       f"node runs {release.version}")
        folder = with_plugin(assemble(release, jdk, show_progress=True), release.version, jdk, show_progress=True,
                             engine=engine)
        click.echo(f"installed into {folder}; `nail-os server start` runs it", err=True)
    click.echo(str(zip_path))
    click.echo(f"elsewhere: bin/{engine}-plugin install file://{zip_path}   (then copy tokenizer.json and "
               f"query_weights.json of each model to config/nail/models/<name>/ on every node)", err=True)


@plugin.command()
@click.option("--cluster", is_flag=True, help="Also ask the cluster (--url) which nodes run the plugin.")
@engine_option
@click.pass_context
def status(ctx: click.Context, cluster: bool, engine: str) -> None:
    """Print, as JSON, the plugin's version, the engine version it targets, its zip and local installs.

    \b
    Example:
      nail-os --url http://127.0.0.1:9200 plugin status --cluster
    """
    from nail_os.server.plugin import PLUGIN_NAME, plugin_status

    info = plugin_status(engine=engine)
    if cluster:
        from nail_os.cli.options import client_from

        client = client_from(ctx)
        rows = client.cat.plugins(format="json")
        nodes = sorted({r["name"] for r in client.cat.nodes(format="json", h="name")})
        info["cluster"] = {"nodes": nodes, "with_plugin": sorted({r["name"] for r in rows
                                                                 if r["component"] == PLUGIN_NAME}),
                           "plugin_versions": sorted({r["version"] for r in rows if r["component"] == PLUGIN_NAME})}
    click.echo(json.dumps(info, indent=2))


@click.group(cls=_ServerGroup)
def model() -> None:
    """Models stored in the cluster for the `nail` query (the nail plugin's _plugins/nail/models API).

    \b
    Example:
      nail-os --url http://127.0.0.1:9200 model upload nail-minilm
    """


@model.command()
@click.argument("name")
@click.option("--model", "-m", "model_path", default=None,
              help="Model folder or name to upload [default: NAME, as nail-os resolves model names].")
@click.pass_context
def upload(ctx: click.Context, name: str, model_path: str | None) -> None:
    """Upload a model's tokenizer and query weights as NAME; queries on every node can use it at once.

    \b
    Example:
      nail-os model upload my-model --model ./checkpoints/my-model
    """
    from nail_os.cli.options import client_from
    from nail_os.registry import resolve_model_dir
    from nail_os.server.plugin import upload_model

    click.echo(json.dumps(upload_model(client_from(ctx), name, resolve_model_dir(model_path or name))))


@model.command(name="list")
@click.pass_context
def list_(ctx: click.Context) -> None:
    """Print the names of the models uploaded to the cluster, one a line.

    \b
    Example:
      nail-os model list
    """
    from nail_os.cli.options import client_from
    from nail_os.server.plugin import list_models

    for name in list_models(client_from(ctx)):
        click.echo(name)


@model.command()
@click.argument("name")
@click.pass_context
def delete(ctx: click.Context, name: str) -> None:
    """Remove the uploaded model NAME.

    \b
    Example:
      nail-os model delete my-model
    """
    from nail_os.cli.options import client_from
    from nail_os.server.plugin import delete_model

    click.echo(json.dumps(delete_model(client_from(ctx), name)))
