"""The `nail-os` click group: connection options declared once, one small module per command.

Commands import their heavy modules when they run, so `nail-os --help` needs no torch and no node.
Our own exceptions become click errors in one place (`NailGroup.invoke`): exit 1 with the message.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import click

from nail_os.connection import DEFAULT_URL, ClusterConfig


def _known_errors() -> tuple[type[BaseException], ...]:
    from nail_os.connection import ConnectionConfigError
    from nail_os.corpus import CorpusError
    from nail_os.encoders import MissingExtraError
    from nail_os.ingest import IngestError
    from nail_os.mapping import MappingError
    from nail_os.queries import QueryError
    from nail_os.registry import ModelNotFoundError
    from nail_os.server.errors import ServerError

    return (ConnectionConfigError, CorpusError, MissingExtraError, IngestError, MappingError, QueryError,
            ModelNotFoundError, ServerError, *_client_errors())


def _client_errors() -> tuple[type[BaseException], ...]:
    """What a failed request raises in opensearch-py and, when it is installed, elasticsearch-py."""
    from nail_os.engines import load

    errors = load("opensearch").errors()
    with contextlib.suppress(ImportError):  # no elasticsearch-py: no Elasticsearch client either
        errors += load("elasticsearch").errors()
    return errors


class NailGroup(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except _known_errors() as exc:
            raise click.ClickException(_describe(exc, ctx)) from exc


def _describe(exc: BaseException, ctx: click.Context) -> str:
    from opensearchpy.exceptions import AuthenticationException, ConnectionError, SSLError, TransportError

    config: ClusterConfig | None = ctx.obj if isinstance(ctx.obj, ClusterConfig) else None
    where = config.describe() if config else "the cluster"
    if isinstance(exc, SSLError):
        detail = str(exc.info if hasattr(exc, "info") else exc)
        return f"TLS with OpenSearch at {where} failed: {detail}.{_tls_hint(detail)}"
    if isinstance(exc, ConnectionError):
        hint = " Is it running? Start the local node with: nail-os server start" if "127.0.0.1" in where else ""
        if where.startswith("http:") and "Connection aborted" in str(exc):
            hint += " If it serves https, use an https:// URL."
        return f"cannot reach OpenSearch at {where}: {exc.info if hasattr(exc, 'info') else exc}.{hint}"
    if isinstance(exc, AuthenticationException):
        return f"OpenSearch at {where} refused the credentials (HTTP 401): check --user/--password"
    if isinstance(exc, TransportError):
        detail = _plain(exc.error) + (f" {exc.info}" if exc.info else "")
        hint = _tls_hint(detail)
        return f"OpenSearch at {where} answered HTTP {exc.status_code}: {detail}{'.' + hint if hint else ''}"[:2000]
    return str(exc)


# What TLS failures mean for the user, by the text OpenSSL (or a TLS proxy such as nginx) gives.
_TLS_HINTS = (
    ("CERTIFICATE_VERIFY_FAILED", "Give the CA bundle that signed the cluster's certificate with --ca-certs (env "
                                  "NAIL_OS_CA_CERTS), or --insecure to skip verification (never in production)."),
    ("WRONG_VERSION_NUMBER", "The endpoint does not speak TLS: use an http:// URL."),
    ("plain HTTP request was sent to HTTPS port", "The endpoint speaks TLS: use an https:// URL."),
    ("No required SSL certificate", "The endpoint wants a client certificate: give --client-cert and --client-key."),
    ("certificate required", "The endpoint wants a client certificate: give --client-cert and --client-key."),
    ("X509", "Check the files given to --ca-certs, --client-cert and --client-key (PEM, matching key)."),
    ("PEM lib", "Check the files given to --ca-certs, --client-cert and --client-key (PEM, matching key)."),
)


def _tls_hint(detail: str) -> str:
    return next((f" {hint}" for marker, hint in _TLS_HINTS if marker in detail), "")


def _plain(error: object) -> str:
    """An error body as one line: the <title> of an HTML page (a proxy's answer), else the text itself."""
    import re

    text = str(error)
    title = re.search(r"<title>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
    return title.group(1).strip() if title else text


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


def client_from(ctx: click.Context) -> Any:
    """The client (OpenSearch or Elasticsearch) for the group's connection options."""
    from nail_os.connection import make_client

    return make_client(ctx.find_object(ClusterConfig))


def _register() -> None:
    # Each command module is light: heavy imports happen inside the command when it runs.
    from nail_os.cli.encode import encode
    from nail_os.cli.eval import eval_
    from nail_os.cli.index import index
    from nail_os.cli.ingest import ingest
    from nail_os.cli.plugin import model, plugin
    from nail_os.cli.search import query, search
    from nail_os.cli.server import server
    from nail_os.cli.train import soup, train

    for command in (server, plugin, model, index, ingest, search, query, encode, train, soup, eval_):
        main.add_command(command)


_register()
