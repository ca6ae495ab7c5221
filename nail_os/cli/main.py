"""The `nail-os` click group: connection options declared once, one small module per command.

Commands import their heavy modules when they run, so `nail-os --help` needs no torch and no node.
Our own exceptions (`NailOSError`) and the cluster client's become click errors in one place (`NailGroup.invoke`):
exit 1 with the message.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import click

from nail_os.cli.options import client_from  # noqa: F401 - re-exported: commands once imported it from here
from nail_os.connection import DEFAULT_URL, ClusterConfig
from nail_os.engines import Engine, load
from nail_os.errors import NailOSError


class NailGroup(click.Group):
    """The group that turns errors into messages: one `except` for the kit's own errors (`NailOSError`, whose
    message is written for the user), one for the cluster client's, which its engine module describes."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except NailOSError as exc:
            raise click.ClickException(str(exc)) from exc
        except _client_errors() as exc:
            raise click.ClickException(_describe(exc, ctx)) from exc


def _engines() -> list[Engine]:
    """The engines whose client library is installed: opensearch-py always, elasticsearch-py when present."""
    engines = [load("opensearch")]
    with contextlib.suppress(ImportError):  # no elasticsearch-py (MissingExtraError): no Elasticsearch client either
        load("elasticsearch").errors()
        engines.append(load("elasticsearch"))
    return engines


def _client_errors() -> tuple[type[BaseException], ...]:
    """What a failed request raises in opensearch-py and, when it is installed, elasticsearch-py."""
    return tuple(error for engine in _engines() for error in engine.errors())


def _describe(exc: BaseException, ctx: click.Context) -> str:
    """The engine's own description of a failed request (`Engine.describe_error`), naming the cluster."""
    config: ClusterConfig | None = ctx.obj if isinstance(ctx.obj, ClusterConfig) else None
    where = config.describe() if config else "the cluster"
    for engine in _engines():
        if isinstance(exc, engine.errors()) and (message := engine.describe_error(exc, where)):
            return message
    return str(exc)


@click.group(cls=NailGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--url", "urls", envvar="NAIL_OS_URL", multiple=True, default=[DEFAULT_URL], show_default=True,
              help="Cluster URL (env NAIL_OS_URL); the local node by default. Give several nodes (repeat --url or "
                   "separate by commas) to spread requests over them and fail over when one is down.")
@click.option("--user", envvar="NAIL_OS_USER", help="Basic-auth user (env NAIL_OS_USER).")
@click.option("--password", envvar="NAIL_OS_PASSWORD", help="Basic-auth password (env NAIL_OS_PASSWORD).")
@click.option("--ca-certs", envvar="NAIL_OS_CA_CERTS", type=click.Path(exists=True, dir_okay=False),
              help="CA bundle to verify the cluster's certificate.")
@click.option("--client-cert", type=click.Path(exists=True, dir_okay=False), help="Client certificate (PEM).")
@click.option("--client-key", type=click.Path(exists=True, dir_okay=False), help="Client certificate key (PEM).")
@click.option("--insecure", is_flag=True, help="Do not verify the cluster's TLS certificate.")
@click.option("--timeout", default=60.0, show_default=True, help="Request timeout in seconds.")
@click.option("--engine", envvar="NAIL_OS_ENGINE", type=click.Choice(["opensearch", "elasticsearch"]), default=None,
              help="The cluster's engine (env NAIL_OS_ENGINE) [default: asked of the cluster].")
@click.option("-v", "--verbose", count=True, help="Log more (-v info, -vv debug) to stderr.")
@click.version_option(package_name="nail-os")
@click.pass_context
def main(ctx: click.Context, urls: tuple[str, ...], user: str | None, password: str | None, ca_certs: str | None,
         client_cert: str | None, client_key: str | None, insecure: bool, timeout: float, engine: str | None,
         verbose: int) -> None:
    """nail-os: NAIL learned sparse retrieval for OpenSearch (and Elasticsearch 8.x).

    Documents are encoded once, at index time, into a rank_features field (sparse_vector on Elasticsearch);
    a query is only tokenized.

    \b
    Example:
      nail-os server start && nail-os ingest ../shared/data/scifact --index scifact
      nail-os search "vitamin d and bone density" --index scifact --mode hybrid
    """
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    for client_logger in ("opensearch", "elasticsearch", "elastic_transport"):  # their logs repeat our errors
        logging.getLogger(client_logger).setLevel(max(level, logging.ERROR))
    ctx.obj = ClusterConfig(url=",".join(urls), user=user, password=password, ca_certs=ca_certs,
                            client_cert=client_cert, client_key=client_key, verify_certs=not insecure, timeout=timeout,
                            engine=engine)  # type: ignore[arg-type]


def _register() -> None:
    # Each command module is light: heavy imports happen inside the command when it runs.
    from nail_os.cli.adapt import adapt
    from nail_os.cli.encode import encode
    from nail_os.cli.eval import eval_
    from nail_os.cli.index import index
    from nail_os.cli.ingest import ingest
    from nail_os.cli.plugin import model, plugin
    from nail_os.cli.search import query, search
    from nail_os.cli.server import server
    from nail_os.cli.train import soup, train

    for command in (server, plugin, model, index, ingest, search, query, encode, train, soup, adapt, eval_):
        main.add_command(command)


_register()
