"""The local OpenSearch node: `start`, `stop`, `status`, `logs`, as `nail-os server ...` does.

OpenSearch is assembled once from the Maven repository with `mvn` (the integ-test zip plus the modules the kit
needs) into the nail-os cache, then started detached on 127.0.0.1; it keeps running after Python exits.

Example:
    >>> import nail_os.server as server
    >>> url = server.start(port=9200)  # doctest: +SKIP
    >>> url  # doctest: +SKIP
    'http://127.0.0.1:9200'
    >>> server.status()["version"]  # doctest: +SKIP
    '3.8.0'
    >>> server.stop()  # doctest: +SKIP
    True
    >>> server.start(port=9250, engine="elasticsearch")  # doctest: +SKIP
    'http://127.0.0.1:9250'

`engine="elasticsearch"` runs Elasticsearch 8.x the same way (its integ-test zip, from the same repository).
Nothing here imports opensearch-py or testcontainers; `nail_os.server.docker` is the Docker backend.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from nail_os.server.assemble import nail_home
from nail_os.server.errors import ServerError
from nail_os.server.node import (
    DEFAULT_PORT,
    DEFAULT_START_TIMEOUT,
    DEFAULT_STOP_TIMEOUT,
    cluster_status,
    default_data_dir,
    node_log,
    read_logs,
    start_cluster,
    stop_cluster,
)
from nail_os.server.releases import DISTRIBUTIONS, ELASTICSEARCH_VERSION, OPENSEARCH_VERSION

Engine = Literal["opensearch", "elasticsearch"]
ENGINES: tuple[str, ...] = tuple(DISTRIBUTIONS)

__all__ = ["ELASTICSEARCH_VERSION", "ENGINES", "OPENSEARCH_VERSION", "ServerError", "default_data_dir", "log_file",
           "logs", "nail_home", "start", "status", "stop"]


def _data_dir(data_dir: str | Path | None, engine: str) -> Path:
    if engine not in ENGINES:
        raise ServerError(f"engine {engine!r} is not supported yet; choose one of: {', '.join(ENGINES)}")
    return Path(data_dir).expanduser() if data_dir else default_data_dir(engine)


def start(version: str | None = None, *, port: int = DEFAULT_PORT, heap: str | None = None,
          data_dir: str | Path | None = None, nodes: int = 1, engine: Engine = "opensearch",
          timeout: float = DEFAULT_START_TIMEOUT, show_progress: bool = False,
          settings: dict[str, object] | None = None, plugin: bool = True) -> str:
    """Start a local cluster (assembling OpenSearch on first use) and return its URL once it is healthy.

    Args:
        version: OpenSearch version; default: the newest pinned release a JDK on this machine runs
            (`OPENSEARCH_VERSION` with Java 21+, else 2.19.x with Java 11-23).
        port: HTTP port of the first node; node i listens on port+i, transport on port+100+i.
        heap: JVM heap per node (`512m`, `2g`); default 1g, or 512m per node when nodes > 1.
        data_dir: where config, data and logs live; default `<nail_home()>/data/opensearch`.
        nodes: how many nodes form the cluster, all on 127.0.0.1.
        engine: "opensearch", or "elasticsearch" for Elasticsearch 8.x (`ELASTICSEARCH_VERSION` by default,
            Java 17+; default data dir `<nail_home()>/data/elasticsearch`).
        timeout: seconds to wait for health yellow/green with all nodes joined.
        show_progress: print assembly and start-up steps to stderr.
        settings: extra opensearch.yml settings for every node (static ones such as
            `{"thread_pool.write.queue_size": 1}`), written on this start.
        plugin: run the nail plugin (the `nail` query; built with mvn and installed into a copy of the node on
            first use). On OpenSearch the shipped models are uploaded through its REST API once the cluster is
            healthy; on Elasticsearch they are copied into each node's config. Where it cannot be built, the
            node starts without it and says so on stderr.

    A cluster already running on `data_dir` is left as it is and its URL returned. Raises ServerError with
    the last log lines when the node does not start.
    """
    return start_cluster(version, port=port, heap=heap, data_dir=_data_dir(data_dir, engine), nodes=nodes,
                         timeout=timeout, show_progress=show_progress, settings=settings, engine=engine,
                         plugin=plugin)


def stop(data_dir: str | Path | None = None, *, engine: Engine = "opensearch",
         timeout: float = DEFAULT_STOP_TIMEOUT) -> bool:
    """Stop the cluster of `data_dir` (SIGTERM, SIGKILL after `timeout` s); True if something was running."""
    return stop_cluster(_data_dir(data_dir, engine), timeout=timeout)


def status(data_dir: str | Path | None = None, *, engine: Engine = "opensearch") -> dict[str, Any]:
    """{"running", "url", "version", "pid", "pids", "nodes", "health", "data_dir", "log"} of `data_dir`."""
    return cluster_status(_data_dir(data_dir, engine))


def logs(data_dir: str | Path | None = None, *, engine: Engine = "opensearch", lines: int = 50,
         node: int = 0) -> str:
    """The last `lines` lines of node `node`'s log (its console output if logging never started)."""
    return read_logs(_data_dir(data_dir, engine), lines=lines, node=node)


def log_file(data_dir: str | Path | None = None, *, engine: Engine = "opensearch", node: int = 0) -> Path:
    """The file `logs` reads for node `node` (for `tail -f`)."""
    return node_log(_data_dir(data_dir, engine) / f"node-{node}")
