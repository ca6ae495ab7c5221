"""The two engines nail-os talks to, and the few things that differ between them.

    opensearch.py     opensearch-py; NAIL weights in `rank_features`, one linear `rank_feature` clause per token
    elasticsearch.py  elasticsearch-py 8.x; NAIL weights in `sparse_vector`, one `term` clause per token

Both fields store a weight as Lucene's `FeatureField` (9 significant bits), and both clauses score it as
`boost × weight`, so the same documents and the same query tokens give the same ranking on either engine
(`tests/integration/test_exactness.py` runs on both). Everything else is shared: `features`, `documents`,
the shape of `queries`, the retry loop of `ingest`, the parsing in `search`. Those modules ask
`engine_of(client)` (or `load(name)`) for the differences: the client and its bulk helper and exceptions,
the NAIL field type and clause, how a search is sent. Neither engine module imports its client library
before it is needed, so building a query body never imports elasticsearch-py.

Which engine a URL serves is read from the cluster (`detect`); `ClusterConfig.engine` or the CLI's
`--engine` forces it.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeAlias, cast

if TYPE_CHECKING:
    from elasticsearch import Elasticsearch
    from opensearchpy import OpenSearch

EngineName = Literal["opensearch", "elasticsearch"]
# The client of either engine, as `nail_os.connection.make_client` builds it. A name for annotations only:
# neither library is imported at run time (building a query body must not need them). Tests pass stand-ins
# that answer the same calls.
Client: TypeAlias = "OpenSearch | Elasticsearch"
ENGINES: tuple[EngineName, ...] = ("opensearch", "elasticsearch")


@dataclass(frozen=True)
class Endpoint:
    """A checked `nail_os.connection.ClusterConfig`: what either engine's client is built from.

    It lives here, not in connection.py, because the engine modules build clients from it and connection.py
    imports them: one direction only.
    """

    host: str
    port: int
    https: bool
    url_prefix: str  # "" or a path such as "/search"
    user: str | None
    password: str
    ca_certs: str | None
    client_cert: str | None
    client_key: str | None
    verify_certs: bool
    timeout: float

    def certificate_files(self) -> dict[str, str]:
        """CA bundle and client certificate options, named alike by opensearch-py and elasticsearch-py."""
        files = {"ca_certs": self.ca_certs, "client_cert": self.client_cert,
                 "client_key": self.client_key if self.client_cert else None}
        return {name: path for name, path in files.items() if path}


class Engine(Protocol):
    """What each module under `nail_os.engines` provides (the modules themselves satisfy this protocol)."""

    NAME: EngineName
    PRODUCT: str  # for messages: "OpenSearch", "Elasticsearch"
    NAIL_FIELD_TYPE: str  # the mapping type of the NAIL field
    NAIL_QUERIES: tuple[str, ...]  # values of QueryOptions.nail_query this engine runs

    def make_client(self, endpoint: Endpoint, **kwargs: Any) -> Client: ...
    def helpers(self) -> ModuleType: ...
    def errors(self) -> tuple[type[BaseException], ...]: ...
    def is_connection_error(self, exc: BaseException) -> bool: ...
    def status_code(self, exc: BaseException) -> int | None: ...
    def streaming_bulk(self, client: Client, actions: Iterable[dict[str, Any]], *,
                       request_timeout: float) -> Iterator[tuple[bool, dict[str, Any]]]: ...
    def search(self, client: Client, index: str, body: dict[str, Any],
               params: Mapping[str, str] | None = None) -> dict[str, Any]: ...
    def nail_clause(self, nail_field: str, feature: str, boost: float, name: str | None) -> dict[str, Any]: ...
    def vector_query(self, nail_field: str, vector: dict[str, float]) -> dict[str, Any]: ...
    def adapt_index_body(self, client: Client, body: dict[str, Any]) -> dict[str, Any]: ...
    def describe_error(self, exc: BaseException, where: str) -> str | None: ...


def load(name: str) -> Engine:
    """The engine module called `name` ("opensearch" or "elasticsearch")."""
    if name not in ENGINES:
        raise ValueError(f"engine {name!r} is not one of {', '.join(ENGINES)}")
    return cast(Engine, importlib.import_module(f"nail_os.engines.{name}"))


def name_of(client: Client) -> EngineName:
    """"elasticsearch" for an elasticsearch-py client, else "opensearch" (by the client's class, no request)."""
    return "elasticsearch" if type(client).__module__.split(".")[0] == "elasticsearch" else "opensearch"


def engine_of(client: Client) -> Engine:
    """The engine module that speaks `client`'s dialect."""
    return load(name_of(client))


def engine_from_info(info: Mapping[str, Any]) -> EngineName | None:
    """The engine behind a `GET /` (or a node of `GET /_nodes`) answer; None if it names neither.

    OpenSearch says `version.distribution: "opensearch"`; Elasticsearch has no `distribution` but a
    `build_flavor` ("default", "serverless") and its tagline.

    >>> engine_from_info({"version": {"distribution": "opensearch", "number": "3.8.0"}})
    'opensearch'
    >>> engine_from_info({"version": {"number": "8.19.21", "build_flavor": "default"},
    ...                   "tagline": "You Know, for Search"})
    'elasticsearch'
    >>> engine_from_info({"version": "8.19.21", "build_flavor": "default"})  # a node of GET /_nodes
    'elasticsearch'
    """
    version = info.get("version")
    details: Mapping[str, Any] = version if isinstance(version, Mapping) else info
    if details.get("distribution") == "opensearch":
        return "opensearch"
    if "build_flavor" in details or info.get("tagline") == "You Know, for Search":
        return "elasticsearch"
    return None


# What TLS failures mean for the user, by the text OpenSSL (or a TLS proxy such as nginx) gives; both engines'
# `describe_error` append them.
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


def tls_hint(detail: str) -> str:
    """" " + what to do about the TLS failure `detail` describes, or "" if it is not one we know."""
    return next((f" {hint}" for marker, hint in _TLS_HINTS if marker in detail), "")


def one_line(error: object) -> str:
    """An error body as one line: the <title> of an HTML page (a proxy's answer), else the text itself."""
    import re

    text = str(error)
    title = re.search(r"<title>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
    return title.group(1).strip() if title else text
