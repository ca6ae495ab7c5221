"""`nail-os server start|stop|status|logs`: the local OpenSearch (or Elasticsearch) node (see `nail_os.server`)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Literal

import click

_ENGINES = ("opensearch", "elasticsearch")  # nail_os.server.ENGINES, repeated so --help imports nothing


class _ServerGroup(click.Group):
    """Turns ServerError into a click error (exit 1), also when this group is used on its own."""

    def invoke(self, ctx: click.Context) -> Any:
        from nail_os.server import ServerError

        try:
            return super().invoke(ctx)
        except ServerError as exc:
            raise click.ClickException(str(exc)) from exc


def _data_dir_option(f: Any) -> Any:
    return click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                        help="Folder of the node's config, data and logs [default: <cache>/data/<engine>; "
                             "cache: $NAIL_OS_HOME, ~/.cache/nail-os, or /var/lib/nail-os for root].")(f)


def _engine_option(f: Any) -> Any:
    return click.option("--engine", type=click.Choice(_ENGINES), default="opensearch", show_default=True,
                        help="Search engine to run: OpenSearch, or Elasticsearch 8.x.")(f)


@click.group(cls=_ServerGroup)
def server() -> None:
    """Run a local OpenSearch for the kit: assembled from the Maven repository on first use, on 127.0.0.1.

    \b
    Example:
      nail-os server start && nail-os server status
    """


@server.command()
@click.option("--version", "version", default=None,
              help="OpenSearch version [default: the newest pinned one this machine's Java runs].")
@click.option("--port", default=9200, show_default=True,
              help="HTTP port (node i uses port+i, transport +100).")
@click.option("--heap", default=None,
              help="JVM heap per node, e.g. 512m or 2g [default: 1g; 512m with --nodes>1].")
@_data_dir_option
@click.option("--nodes", default=1, show_default=True, type=click.IntRange(1, 9),
              help="Local nodes forming one cluster.")
@_engine_option
@click.option("--timeout", default=180.0, show_default=True, help="Seconds to wait for health yellow/green.")
@click.option("--plugin/--no-plugin", default=True, show_default=True,
              help="Run the node with the nail plugin (built with mvn on first use) and the shipped models.")
def start(version: str | None, port: int, heap: str | None, data_dir: Path | None, nodes: int,
          engine: Literal["opensearch", "elasticsearch"], timeout: float, plugin: bool) -> None:
    """Start the local node (detached) and print its URL once it is healthy; a no-op if it already runs.

    \b
    Example:
      nail-os server start --port 9200 --heap 2g   # or: --engine elasticsearch --port 9250
    """
    import nail_os.server as local

    url = local.start(version, port=port, heap=heap, data_dir=data_dir, nodes=nodes, engine=engine,
                      timeout=timeout, show_progress=True, plugin=plugin)
    click.echo(url)


@server.command()
@_data_dir_option
@_engine_option
@click.option("--timeout", default=60.0, show_default=True, help="Seconds before SIGTERM becomes SIGKILL.")
def stop(data_dir: Path | None, engine: Literal["opensearch", "elasticsearch"], timeout: float) -> None:
    """Stop the local node (SIGTERM, then SIGKILL after --timeout).

    \b
    Example:
      nail-os server stop
    """
    import nail_os.server as local

    stopped = local.stop(data_dir, engine=engine, timeout=timeout)
    click.echo("stopped" if stopped else "not running")


@server.command()
@_data_dir_option
@_engine_option
@click.option("--json", "as_json", is_flag=True, help="Print the status as one JSON object.")
def status(data_dir: Path | None, engine: Literal["opensearch", "elasticsearch"], as_json: bool) -> None:
    """Print whether the local node runs, its URL, version, pid and health. Exit 0 either way.

    \b
    Example:
      nail-os server status --json
    """
    import nail_os.server as local

    info = local.status(data_dir, engine=engine)
    if as_json:
        click.echo(json.dumps(info))
        return
    click.echo(f"{'running' if info['running'] else 'not running'}")
    for key in ("url", "version", "pid", "health", "nodes", "data_dir", "log"):
        if info.get(key) is not None:
            click.echo(f"{key + ':':<9} {info[key]}")


@server.command()
@_data_dir_option
@_engine_option
@click.option("--lines", "-n", default=50, show_default=True, help="How many lines from the end.")
@click.option("--node", default=0, show_default=True, help="Which node of a --nodes cluster.")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new lines until Ctrl-C.")
def logs(data_dir: Path | None, engine: Literal["opensearch", "elasticsearch"], lines: int, node: int,
         follow: bool) -> None:
    """Print the end of the node's log (its console output if logging never started).

    \b
    Example:
      nail-os server logs -n 100 --follow
    """
    import nail_os.server as local

    text = local.logs(data_dir, engine=engine, lines=lines, node=node)
    if text:
        click.echo(text)
    if not follow:
        return
    path = local.log_file(data_dir, engine=engine, node=node)
    position = path.stat().st_size if path.is_file() else 0
    try:
        while True:
            time.sleep(0.5)
            if not path.is_file():
                continue
            size = path.stat().st_size
            if size < position:  # rotated
                position = 0
            if size > position:
                with path.open("rb") as fh:
                    fh.seek(position)
                    click.echo(fh.read(size - position).decode(errors="replace"), nl=False)
                position = size
    except KeyboardInterrupt:
        pass
