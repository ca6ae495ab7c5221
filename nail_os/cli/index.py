"""`nail-os index`: create an index with the NAIL mapping, or add the NAIL field to an existing one."""

from __future__ import annotations

import json

import click

from nail_os.cli.options import nail_field_option


@click.group()
def index() -> None:
    """Create, extend, inspect and delete indices.

    \b
    Example:
      nail-os index create scifact --shards 1 --replicas 0
    """


@index.command()
@click.argument("name")
@click.option("--shards", default=1, show_default=True, help="Primary shards.")
@click.option("--replicas", default=0, show_default=True, help="Replicas per shard.")
@click.option("--keep-features-in-source", is_flag=True,
              help="Store NAIL weights in _source too (bigger index; survives partial updates).")
@click.option("--recreate", is_flag=True, help="Delete the index first if it exists.")
@nail_field_option
@click.pass_context
def create(ctx: click.Context, name: str, shards: int, replicas: int, keep_features_in_source: bool,
           recreate: bool, nail_field: str) -> None:
    """Create index NAME with BM25 text fields and the NAIL rank_features field.

    \b
    Example:
      nail-os index create scifact --shards 2 --replicas 1
    """
    from nail_os.cli.options import client_from
    from nail_os.mapping import create_index

    client = client_from(ctx)
    if recreate:
        client.indices.delete(index=name, ignore_unavailable=True)
    created = create_index(client, name, shards=shards, replicas=replicas, nail_field=nail_field,
                           keep_features_in_source=keep_features_in_source)
    click.echo(f"{'created' if created else 'exists'}: {name}")


@index.command("add-nail-field")
@click.argument("name")
@nail_field_option
@click.pass_context
def add_nail_field_cmd(ctx: click.Context, name: str, nail_field: str) -> None:
    """Add the NAIL rank_features field to the existing index NAME; its other fields stay as they are.

    Fill it for the documents already there with `nail-os ingest --update`.

    \b
    Example:
      nail-os index add-nail-field products && nail-os ingest products.jsonl -i products --update
    """
    from nail_os.cli.options import client_from
    from nail_os.mapping import add_nail_field

    added = add_nail_field(client_from(ctx), name, nail_field)
    click.echo(f"{'added' if added else 'already there'}: {name}.{nail_field} (rank_features)")


@index.command()
@click.argument("name")
@click.pass_context
def info(ctx: click.Context, name: str) -> None:
    """Print document count, size on disk and the NAIL field's mapping of index NAME as JSON.

    \b
    Example:
      nail-os index info scifact
    """
    from nail_os.cli.options import client_from

    client = client_from(ctx)
    stats = client.indices.stats(index=name, metric="docs,store")["_all"]["primaries"]
    mapping = client.indices.get_mapping(index=name)
    click.echo(json.dumps({"index": name, "docs": stats["docs"]["count"],
                           "store_bytes": stats["store"]["size_in_bytes"], "mapping": mapping}, indent=2))


@index.command()
@click.argument("name")
@click.confirmation_option(prompt="Delete the index and all its documents?")
@click.pass_context
def delete(ctx: click.Context, name: str) -> None:
    """Delete index NAME.

    \b
    Example:
      nail-os index delete scifact --yes
    """
    from nail_os.cli.options import client_from

    client_from(ctx).indices.delete(index=name)
    click.echo(f"deleted: {name}")
