"""An OpenSearch client from a URL plus TLS and basic-auth options.

Credentials may sit in the URL (`https://user:pass@host:9200`) or come as options; either way they
are passed to the client and never logged: `describe()` prints the URL without them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from opensearchpy import OpenSearch

DEFAULT_URL = "http://127.0.0.1:9200"
URL_ENV = "NAIL_OS_URL"


class ConnectionConfigError(ValueError):
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

    @classmethod
    def from_env(cls, **overrides: object) -> ClusterConfig:
        """`NAIL_OS_URL`, `NAIL_OS_USER`, `NAIL_OS_PASSWORD`, `NAIL_OS_CA_CERTS`, then explicit overrides."""
        values: dict[str, object] = {
            "url": os.environ.get(URL_ENV, DEFAULT_URL),
            "user": os.environ.get("NAIL_OS_USER"),
            "password": os.environ.get("NAIL_OS_PASSWORD"),
            "ca_certs": os.environ.get("NAIL_OS_CA_CERTS"),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]

    def describe(self) -> str:
        """The URL with any credentials removed, safe to print."""
        parts = urlsplit(self.url)
        host = parts.hostname or ""
        if parts.port:
            host = f"{host}:{parts.port}"
        return urlunsplit((parts.scheme, host, parts.path, "", ""))


def make_client(config: ClusterConfig | None = None, **kwargs: object) -> OpenSearch:
    """An `OpenSearch` client for `config` (default: `ClusterConfig.from_env()`).

    Retries on timeouts and connection errors are left to the callers that know what is safe to
    repeat (ingest resends whole idempotent chunks; see ingest.py), so the client itself does not.
    """
    config = config or ClusterConfig.from_env()
    parts = urlsplit(config.url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConnectionConfigError(
            f"cluster URL {config.describe() or config.url!r} must look like http(s)://host:port"
        )
    user = config.user or (parts.username and _unquote(parts.username))
    password = config.password or (parts.password and _unquote(parts.password)) or ""
    https = parts.scheme == "https"
    if not https and (config.ca_certs or config.client_cert):
        raise ConnectionConfigError(f"--ca-certs/--client-cert need an https URL, got {config.describe()}")
    host = {"host": parts.hostname, "port": parts.port or (443 if https else 80)}
    if parts.path not in ("", "/"):
        host["url_prefix"] = parts.path
    options: dict[str, object] = {
        "hosts": [host],
        "use_ssl": https,
        "verify_certs": https and config.verify_certs,
        "ssl_show_warn": False,
        "timeout": config.timeout,
        "max_retries": 0,
        "retry_on_timeout": False,
        "http_compress": False,
    }
    if user:
        options["http_auth"] = (user, password)
    if config.ca_certs:
        options["ca_certs"] = config.ca_certs
    if config.client_cert:
        options["client_cert"] = config.client_cert
        if config.client_key:
            options["client_key"] = config.client_key
    options.update(kwargs)
    return OpenSearch(**options)  # type: ignore[arg-type]


def _unquote(value: str) -> str:
    from urllib.parse import unquote

    return unquote(value)
