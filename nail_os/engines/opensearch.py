"""OpenSearch through opensearch-py: NAIL weights in `rank_features`, one linear `rank_feature` clause per token.

opensearch-py is a core dependency, so it is imported here at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from types import ModuleType
from typing import Any, Literal

from opensearchpy import OpenSearch
from opensearchpy import helpers as _helpers
from opensearchpy.exceptions import AuthenticationException, TransportError
from opensearchpy.exceptions import ConnectionError as OSConnectionError
from opensearchpy.exceptions import SSLError as OSSSLError

from nail_os.engines import Endpoint, EngineName, engine_from_info, one_line, tls_hint

NAME: Literal["opensearch"] = "opensearch"
PRODUCT = "OpenSearch"
NAIL_FIELD_TYPE = "rank_features"
# "neural_sparse": the neural-search plugin's query with query_tokens, for clusters that run the plugin.
NAIL_QUERIES: tuple[str, ...] = ("rank_feature", "neural_sparse")


def make_client(endpoint: Endpoint, **kwargs: Any) -> OpenSearch:
    """An `OpenSearch` client for `endpoint`, without client-side retries (ingest.py retries what is safe)."""
    host: dict[str, Any] = {"host": endpoint.host, "port": endpoint.port}
    if endpoint.url_prefix:
        host["url_prefix"] = endpoint.url_prefix
    options: dict[str, Any] = {
        "hosts": [host],
        "use_ssl": endpoint.https,
        "verify_certs": endpoint.verify_certs,
        "ssl_show_warn": False,
        "timeout": endpoint.timeout,
        "max_retries": 0,
        "retry_on_timeout": False,
        "http_compress": False,
    }
    if endpoint.user:
        options["http_auth"] = (endpoint.user, endpoint.password)
    options.update(endpoint.certificate_files())
    options.update(kwargs)
    return OpenSearch(**options)


def detect(client: OpenSearch) -> EngineName | None:
    """Which engine answers `client`: from `GET /`, else from `GET /_nodes/_local`; None if unreachable.

    Elasticsearch's integ-test distribution has no `GET /` (HTTP 405), hence the second request.
    """
    requests = (("/", None), ("/_nodes/_local", {"filter_path": "nodes.*.version,nodes.*.build_flavor,"
                                                                "nodes.*.distribution"}))
    for path, params in requests:
        try:
            info = client.transport.perform_request("GET", path, params=params)
        except OSConnectionError:
            return None
        except TransportError:
            continue  # 401/403 for a restricted user, 405 on Elasticsearch's integ-test node: try the next one
        if not isinstance(info, Mapping):
            continue
        nodes = info.get("nodes")
        for answer in (nodes.values() if isinstance(nodes, Mapping) else [info]):
            found = engine_from_info(answer)
            if found:
                return found
    return None


def helpers() -> ModuleType:
    """opensearch-py's `helpers` module (`bulk`, `scan`, `streaming_bulk`)."""
    return _helpers


def errors() -> tuple[type[BaseException], ...]:
    """Every exception a failed request raises."""
    return (TransportError,)  # OSConnectionError (and its timeout) subclass it


def is_connection_error(exc: BaseException) -> bool:
    """The request never got an HTTP answer (refused, reset, timed out): safe to resend an idempotent one."""
    return isinstance(exc, OSConnectionError)


def status_code(exc: BaseException) -> int | None:
    status = getattr(exc, "status_code", None)
    return status if isinstance(status, int) else None


def streaming_bulk(client: OpenSearch, actions: Iterable[dict[str, Any]], *, request_timeout: float
                   ) -> Iterator[tuple[bool, dict[str, Any]]]:
    """One bulk request of all `actions`; per-item results, failures included; no retries of its own."""
    actions = list(actions)
    return _helpers.streaming_bulk(client, actions, chunk_size=max(len(actions), 1), raise_on_error=False,
                                   raise_on_exception=True, max_retries=0, yield_ok=False,
                                   request_timeout=request_timeout)


def search(client: OpenSearch, index: str, body: dict[str, Any], params: Mapping[str, str] | None = None
           ) -> dict[str, Any]:
    """`POST /<index>/_search` with URL `params` such as `{"include_named_queries_score": "true"}`."""
    return client.search(index=index, body=body, params=dict(params or {}))


def nail_clause(nail_field: str, feature: str, boost: float, name: str | None) -> dict[str, Any]:
    """`rank_feature` with `linear`: without it the clause saturates (S / (S + pivot)), not a dot product."""
    clause: dict[str, Any] = {"field": f"{nail_field}.{feature}", "linear": {}}
    if boost != 1.0:
        clause["boost"] = boost
    if name is not None:
        clause["_name"] = name
    return {"rank_feature": clause}


def vector_query(nail_field: str, vector: dict[str, float]) -> dict[str, Any]:
    """The neural-search plugin's `neural_sparse` query: the same dot product, as one query."""
    return {"neural_sparse": {nail_field: {"query_tokens": vector}}}


def adapt_index_body(client: OpenSearch, body: dict[str, Any]) -> dict[str, Any]:
    """`nail_os/mappings/nail.json` is written for OpenSearch: sent as it is."""
    return body


def describe_error(exc: BaseException, where: str) -> str | None:
    """One line for the CLI about a failed request to the cluster at `where`; None if not a client error."""
    if isinstance(exc, OSSSLError):
        detail = str(exc.info if hasattr(exc, "info") else exc)
        return f"TLS with OpenSearch at {where} failed: {detail}.{tls_hint(detail)}"
    if isinstance(exc, OSConnectionError):
        hint = " Is it running? Start the local node with: nail-os server start" if "127.0.0.1" in where else ""
        if where.startswith("http:") and "Connection aborted" in str(exc):
            hint += " If it serves https, use an https:// URL."
        return f"cannot reach OpenSearch at {where}: {exc.info if hasattr(exc, 'info') else exc}.{hint}"
    if isinstance(exc, AuthenticationException):
        return f"OpenSearch at {where} refused the credentials (HTTP 401): check --user/--password"
    if isinstance(exc, TransportError):
        detail = one_line(exc.error) + (f" {exc.info}" if exc.info else "")
        hint = tls_hint(detail)
        return f"OpenSearch at {where} answered HTTP {exc.status_code}: {detail}{'.' + hint if hint else ''}"[:2000]
    return None
