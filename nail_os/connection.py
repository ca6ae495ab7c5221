"""A client for the cluster at a URL (or several nodes' URLs), with TLS and basic-auth options: OpenSearch or
Elasticsearch.

Credentials may sit in the URL (`https://user:pass@host:9200`) or come as options; either way they
are passed to the client and never logged: `describe()` prints the URL without them. Which engine
serves the URL is asked of the cluster unless `engine` says it (see `nail_os.engines`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from nail_os.engines import ENGINES, Client, Endpoint, EngineName, load  # Endpoint: re-exported
from nail_os.errors import NailOSError

DEFAULT_URL = "http://127.0.0.1:9200"
URL_ENV = "NAIL_OS_URL"
ENGINE_ENV = "NAIL_OS_ENGINE"


class ConnectionConfigError(NailOSError, ValueError):
    """The connection options do not describe a usable cluster endpoint."""


@dataclass(frozen=True)
class ClusterConfig:
    """Where the cluster is and how to talk to it. Mirrors the CLI's group options."""

    url: str = DEFAULT_URL
    user: str | None = None
    password: str | None = None
    ca_certs: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    verify_certs: bool = True
    timeout: float = 60.0
    engine: EngineName | None = None  # None: ask the cluster (`GET /`) which engine it is

    def __post_init__(self) -> None:
        if self.engine is not None and self.engine not in ENGINES:
            raise ConnectionConfigError(f"engine {self.engine!r} is not one of {', '.join(ENGINES)}")

    @classmethod
    def from_env(cls, **overrides: object) -> ClusterConfig:
        """`NAIL_OS_URL`, `NAIL_OS_USER`, `NAIL_OS_PASSWORD`, `NAIL_OS_CA_CERTS`, `NAIL_OS_ENGINE`, then
        explicit overrides."""
        values: dict[str, object] = {
            "url": os.environ.get(URL_ENV, DEFAULT_URL),
            "user": os.environ.get("NAIL_OS_USER"),
            "password": os.environ.get("NAIL_OS_PASSWORD"),
            "ca_certs": os.environ.get("NAIL_OS_CA_CERTS"),
            "engine": os.environ.get(ENGINE_ENV) or None,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]

    def __repr__(self) -> str:
        # The generated repr would print the password (and a URL's user:pass) wherever a config is logged.
        password = "***" if self.password else None
        return (f"ClusterConfig(url={self.describe()!r}, user={self.user!r}, password={password}, "
                f"ca_certs={self.ca_certs!r}, client_cert={self.client_cert!r}, verify_certs={self.verify_certs})")

    @property
    def urls(self) -> list[str]:
        """The cluster's nodes: `url` may list several, comma-separated (the CLI joins repeated `--url`s)."""
        return [u.strip() for u in self.url.split(",") if u.strip()] or [self.url]

    def describe(self) -> str:
        """The URL(s) with any credentials removed, safe to print."""
        return ",".join(_without_credentials(url) for url in self.urls)


def _without_credentials(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def endpoint(config: ClusterConfig) -> Endpoint:
    """The endpoint `config` describes, or ConnectionConfigError saying what is wrong with it."""
    parts = urlsplit(config.urls[0])
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConnectionConfigError(
            f"cluster URL {config.describe() or config.url!r} must look like http(s)://host:port"
        )
    https = parts.scheme == "https"
    if not https and (config.ca_certs or config.client_cert):
        raise ConnectionConfigError(f"--ca-certs/--client-cert need an https URL, got {config.describe()}")
    return Endpoint(
        host=parts.hostname, port=parts.port or (443 if https else 80), https=https,
        url_prefix=parts.path if parts.path not in ("", "/") else "",
        user=config.user or (_unquote(parts.username) if parts.username else None),
        password=config.password or (_unquote(parts.password) if parts.password else ""),
        ca_certs=config.ca_certs, client_cert=config.client_cert,
        client_key=config.client_key if config.client_cert else None,
        verify_certs=https and config.verify_certs, timeout=config.timeout)


def make_client(config: ClusterConfig | None = None, **kwargs: object) -> Client:
    """A client for `config` (default: `ClusterConfig.from_env()`): `opensearchpy.OpenSearch`, or
    `elasticsearch.Elasticsearch` when the cluster is Elasticsearch (or `config.engine` says so).

    Retries on timeouts and connection errors are left to the callers that know what is safe to
    repeat (ingest resends whole idempotent chunks; see ingest.py), so the client itself does not.
    `kwargs` go to the client's constructor. Without `config.engine` this asks the cluster once
    (`GET /`); a cluster that cannot be reached gets an OpenSearch client, whose first request then
    reports why.
    """
    config = config or ClusterConfig.from_env()
    where = endpoint(config)
    if len(config.urls) > 1:
        kwargs = {**_several_hosts(config), **kwargs}
    if config.engine == "elasticsearch":
        return load("elasticsearch").make_client(where, **kwargs)
    client = load("opensearch").make_client(where, **kwargs)
    if config.engine is None and _detect(client) == "elasticsearch":
        return load("elasticsearch").make_client(where, **kwargs)
    return client


def _several_hosts(config: ClusterConfig) -> dict[str, Any]:
    """Client options for a cluster given as several nodes: requests go round-robin over them, and one that
    fails to connect is resent to another node (each node is tried once) while the dead one rests. Everything
    the kit sends may be resent: searches, and bulk requests whose documents carry their ids."""
    hosts = []
    for url in config.urls:
        node = endpoint(replace(config, url=url))  # each URL checked as a single one would be
        if node.https != endpoint(config).https:
            raise ConnectionConfigError(f"cluster URLs {config.describe()} mix http and https; use one scheme")
        hosts.append(f"{'https' if node.https else 'http'}://{node.host}:{node.port}{node.url_prefix}")
    return {"hosts": hosts, "max_retries": len(hosts)}


def _detect(client: Client) -> EngineName | None:
    from nail_os.engines.opensearch import detect

    return detect(client)


def _unquote(value: str) -> str:
    from urllib.parse import unquote

    return unquote(value)
