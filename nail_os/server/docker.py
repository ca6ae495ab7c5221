"""The Docker backend: the official OpenSearch image through testcontainers, when a Docker engine is present.

Unlike `nail_os.server.start`, the container lives only as long as the Python process (testcontainers'
reaper removes it), so this suits test fixtures and notebooks, not `nail-os server start`. The official
image already has mapper-extras, analysis-common and painless; its security plugin is switched off.

Example:
    >>> from nail_os.server.docker import docker_available, opensearch_container
    >>> if docker_available():  # doctest: +SKIP
    ...     with opensearch_container() as url:
    ...         print(url)
    http://localhost:32771

Needs `pip install 'nail-os[docker]'` (testcontainers) and a running Docker engine.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from nail_os.server.errors import ServerError
from nail_os.server.releases import OPENSEARCH_VERSION

IMAGE = "opensearchproject/opensearch"
_SOCKETS = ("/var/run/docker.sock", str(Path.home() / ".docker" / "run" / "docker.sock"))


def docker_available() -> bool:
    """Whether a Docker engine answers (DOCKER_HOST or a local socket) and testcontainers is installed."""
    if not os.environ.get("DOCKER_HOST") and not any(Path(s).exists() for s in _SOCKETS):
        return False
    try:
        import docker  # testcontainers depends on docker-py
    except ImportError:
        return False
    try:
        docker.from_env().ping()
    except Exception:  # any failure to reach the engine means "no Docker here"
        return False
    return True


def _container_class() -> Any:
    try:
        from testcontainers.opensearch import OpenSearchContainer
    except ImportError as exc:
        raise ServerError("the Docker backend needs testcontainers: pip install 'nail-os[docker]' "
                          "(or use the local node: nail-os server start)") from exc
    return OpenSearchContainer


@contextlib.contextmanager
def opensearch_container(version: str = OPENSEARCH_VERSION, heap: str = "1g") -> Iterator[str]:
    """Run the official OpenSearch image for the duration of the `with` block and yield its URL."""
    container_class = _container_class()
    if not docker_available():
        raise ServerError("no Docker engine answers here (DOCKER_HOST unset and no /var/run/docker.sock); "
                          "use the local node instead: nail-os server start")
    container = container_class(image=f"{IMAGE}:{version}", security_enabled=False)
    container.with_env("OPENSEARCH_JAVA_OPTS", f"-Xms{heap} -Xmx{heap}")
    with container:
        config = container.get_config()
        yield f"http://{config['host']}:{config['port']}"
