"""Elasticsearch 8.x through elasticsearch-py 8.x: NAIL weights in `sparse_vector`, one `term` clause per token.

Why `sparse_vector` and not `rank_features`: both index a weight as Lucene's `FeatureField`, but only
`sparse_vector` is in Elasticsearch's server; `rank_features` needs the mapper-extras module, which Elastic
does not publish to Maven (see `nail_os.server.releases`), so the local test node cannot have it. On a
`sparse_vector` field a `term` query is `FeatureField.newLinearQuery`: its score is the stored weight, and
with `boost` it is `boost × weight`, exactly what a linear `rank_feature` clause scores on OpenSearch. Named
per-token clauses also let `include_named_queries_score` (8.8+) report each token's contribution.

`sparse_vector` came back in 8.11 (an index created by 8.0-8.10 refuses it); the one-query form
(`nail_query="sparse_vector"`, `vector_query`) needs 8.15+.

elasticsearch-py is an extra (`pip install 'nail-os[elasticsearch]'`): this module imports it only when a
client, a helper or an exception class is needed, so `nail_os.queries` can use the clause builders without it.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterable, Iterator, Mapping
from types import ModuleType
from typing import TYPE_CHECKING, Any, Literal

from nail_os.engines import one_line, tls_hint

if TYPE_CHECKING:
    from elasticsearch import Elasticsearch

    from nail_os.engines import Endpoint

log = logging.getLogger(__name__)

NAME: Literal["elasticsearch"] = "elasticsearch"
PRODUCT = "Elasticsearch"
NAIL_FIELD_TYPE = "sparse_vector"
# "sparse_vector": Elasticsearch's own query with `query_vector` (8.15+): the same scores as one query.
NAIL_QUERIES: tuple[str, ...] = ("rank_feature", "sparse_vector")
INSTALL_HINT = "pip install 'nail-os[elasticsearch]'"
# The client major must match the server's: elasticsearch-py 9 sends `compatible-with=9`, which 8.x refuses.
CLIENT_MAJOR = 8


def _es() -> ModuleType:
    """The `elasticsearch` package, or MissingExtraError with the install command."""
    from nail_os.errors import MissingExtraError

    try:
        import elasticsearch
    except ImportError as exc:
        raise MissingExtraError(f"Elasticsearch needs elasticsearch-py 8.x: {INSTALL_HINT} ({exc})") from exc
    major = int(str(elasticsearch.__versionstr__).split(".")[0])
    if major != CLIENT_MAJOR:
        raise MissingExtraError(f"elasticsearch-py {elasticsearch.__versionstr__} is installed, but nail-os talks "
                                f"to Elasticsearch 8.x with elasticsearch-py 8.x: {INSTALL_HINT}")
    return elasticsearch


def make_client(endpoint: Endpoint, **kwargs: Any) -> Elasticsearch:
    """An `elasticsearch.Elasticsearch` client for `endpoint`, without client-side retries."""
    es = _es()
    host: dict[str, Any] = {"scheme": "https" if endpoint.https else "http", "host": endpoint.host,
                            "port": endpoint.port}
    if endpoint.url_prefix:
        host["path_prefix"] = endpoint.url_prefix
    options: dict[str, Any] = {
        "hosts": [host],
        "request_timeout": endpoint.timeout,
        "max_retries": 0,
        "retry_on_timeout": False,
        "retry_on_status": (),
        "http_compress": False,
    }
    if endpoint.https:  # the client refuses TLS options on an http URL
        options.update(verify_certs=endpoint.verify_certs, ssl_show_warn=False, **endpoint.certificate_files())
    if endpoint.user:
        options["basic_auth"] = (endpoint.user, endpoint.password)
    options.update(kwargs)
    return es.Elasticsearch(**options)


def helpers() -> ModuleType:
    """elasticsearch-py's `helpers` module (`bulk`, `scan`, `streaming_bulk`)."""
    _es()
    import elasticsearch.helpers

    return elasticsearch.helpers


def errors() -> tuple[type[BaseException], ...]:
    """Every exception a failed request raises: an HTTP error answer, or no answer at all."""
    es = _es()
    return (es.ApiError, es.TransportError)


def is_connection_error(exc: BaseException) -> bool:
    """The request never got an HTTP answer (refused, reset, timed out): safe to resend an idempotent one."""
    es = _es()
    return isinstance(exc, es.ConnectionError | es.ConnectionTimeout)


def status_code(exc: BaseException) -> int | None:
    status = getattr(exc, "status_code", None)  # ApiError; transport errors have none
    return status if isinstance(status, int) else None


def streaming_bulk(client: Elasticsearch, actions: Iterable[dict[str, Any]], *, request_timeout: float
                   ) -> Iterator[tuple[bool, dict[str, Any]]]:
    """One bulk request of all `actions`; per-item results, failures included; no retries of its own."""
    actions = list(actions)
    # elasticsearch-py 8 takes transport options through `options()`, not as arguments of the API call.
    return helpers().streaming_bulk(client.options(request_timeout=request_timeout), actions,
                                    chunk_size=max(len(actions), 1), raise_on_error=False,
                                    raise_on_exception=True, max_retries=0, yield_ok=False)


def search(client: Elasticsearch, index: str, body: dict[str, Any], params: Mapping[str, str] | None = None
           ) -> dict[str, Any]:
    """`POST /<index>/_search`; `params` as OpenSearch takes them (strings) become the client's arguments."""
    arguments: dict[str, Any] = {}
    for key, value in (params or {}).items():
        arguments[key] = {"true": True, "false": False}.get(str(value).lower(), value)
    return client.search(index=index, body=body, **arguments).body


def nail_clause(nail_field: str, feature: str, boost: float, name: str | None) -> dict[str, Any]:
    """A `term` on the sparse_vector field: Lucene's linear FeatureField query, scored boost × weight."""
    clause: dict[str, Any] = {"value": feature}
    if boost != 1.0:
        clause["boost"] = boost
    if name is not None:
        clause["_name"] = name
    return {"term": {nail_field: clause}}


def vector_query(nail_field: str, vector: dict[str, float]) -> dict[str, Any]:
    """Elasticsearch's `sparse_vector` query with `query_vector` (8.15+): the same dot product, as one query.

    `prune: false`, because indices created by 8.19+ prune query tokens by default, which would drop the
    rare tokens and make the ranking approximate.
    """
    return {"sparse_vector": {"field": nail_field, "query_vector": vector, "prune": False}}


def adapt_index_body(client: Elasticsearch, body: dict[str, Any]) -> dict[str, Any]:
    """`nail_os/mappings/nail.json` for Elasticsearch: the `rank_features` NAIL field becomes `sparse_vector`.

    The `english` analyzer lives in the analysis-common module, which Elasticsearch's integ-test distribution
    (the local node) lacks: there the text fields fall back to `standard`, with a warning, so BM25 and the
    hybrid differ a little from OpenSearch's (NAIL does not: it reads no analyzer).
    """
    body = copy.deepcopy(body)
    properties = body.get("mappings", {}).get("properties", {})
    for spec in properties.values():
        if spec.get("type") == "rank_features":
            spec["type"] = NAIL_FIELD_TYPE
    if _uses_analyzer(properties, "english") and not _has_analyzer(client, "english"):
        log.warning("Elasticsearch at this URL has no `english` analyzer (its analysis-common module is "
                    "missing); the text fields use `standard` instead")
        _replace_analyzer(properties, "english", "standard")
    return body


def _uses_analyzer(properties: Mapping[str, Any], name: str) -> bool:
    return any(spec.get("analyzer") == name or _uses_analyzer(spec.get("fields", {}), name)
               for spec in properties.values())


def _replace_analyzer(properties: Mapping[str, Any], old: str, new: str) -> None:
    for spec in properties.values():
        if spec.get("analyzer") == old:
            spec["analyzer"] = new
        _replace_analyzer(spec.get("fields", {}), old, new)


def _has_analyzer(client: Elasticsearch, name: str) -> bool:
    try:
        client.indices.analyze(analyzer=name, text="nail")
    except _es().ApiError as exc:
        if exc.status_code == 400:  # "failed to find global analyzer"
            return False
        raise
    return True


def describe_error(exc: BaseException, where: str) -> str | None:
    """One line for the CLI about a failed request to the cluster at `where`; None if not a client error."""
    es = _es()
    if isinstance(exc, es.ConnectionError | es.ConnectionTimeout):
        hint = (" Is it running? Start the local node with: nail-os server start --engine elasticsearch"
                if "127.0.0.1" in where else "")
        return f"cannot reach Elasticsearch at {where}: {exc}.{hint}{tls_hint(str(exc))}"
    if isinstance(exc, es.AuthenticationException):
        return f"Elasticsearch at {where} refused the credentials (HTTP 401): check --user/--password"
    if isinstance(exc, es.ApiError):
        return f"Elasticsearch at {where} answered HTTP {exc.status_code}: {exc.error} {one_line(exc.info)}"[:2000]
    if isinstance(exc, es.TransportError):
        return f"Elasticsearch at {where}: {exc}"[:2000]
    return None
