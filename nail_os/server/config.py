"""The files a node reads at start: opensearch.yml (elasticsearch.yml), jvm.options and log4j2.properties.

Pure text in, text out.

Each node of a local cluster gets its own config folder (OPENSEARCH_PATH_CONF) beside its data and logs, so
the assembled distribution stays read-only and shared by every node and every data dir.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from nail_os.server.errors import ServerError

CLUSTER_NAME = "nail-os"
LOOPBACK = "127.0.0.1"
# Transport ports sit this far above the HTTP ports, like OpenSearch's own 9200/9300 defaults.
TRANSPORT_OFFSET = 100
_HEAP_RE = re.compile(r"^[1-9]\d*[mMgG]$")


@dataclass(frozen=True)
class NodeSpec:
    """One node of a local cluster: its name, ports and folders."""

    index: int
    http_port: int
    transport_port: int
    root: Path  # <data_dir>/node-<index>

    @property
    def name(self) -> str:
        return f"node-{self.index}"

    @property
    def config_dir(self) -> Path:
        return self.root / "config"

    @property
    def data_path(self) -> Path:
        return self.root / "data"

    @property
    def logs_path(self) -> Path:
        return self.root / "logs"

    @property
    def tmp_path(self) -> Path:
        return self.root / "tmp"

    @property
    def console_log(self) -> Path:
        """stdout/stderr of the launcher: JVM errors and failures before logging starts land here."""
        return self.root / "console.log"

    @property
    def server_log(self) -> Path:
        return self.logs_path / f"{CLUSTER_NAME}.log"


def check_heap(heap: str) -> str:
    """`heap` as a JVM size (`512m`, `1g`), or a ServerError that names it."""
    if not _HEAP_RE.match(heap):
        raise ServerError(f"heap {heap!r} is not a JVM size like 512m or 2g")
    return heap.lower()


def plan_nodes(data_dir: Path, port: int, nodes: int) -> list[NodeSpec]:
    """Ports and folders for `nodes` nodes: HTTP on port, port+1, ...; transport 100 above each.

    >>> [(n.name, n.http_port, n.transport_port) for n in plan_nodes(Path("/d"), 9200, 2)]
    [('node-0', 9200, 9300), ('node-1', 9201, 9301)]
    """
    if nodes < 1:
        raise ServerError(f"--nodes must be at least 1, got {nodes}")
    if not 1024 <= port <= 65535 - TRANSPORT_OFFSET - nodes:
        raise ServerError(f"--port {port} is out of range: use 1024-{65535 - TRANSPORT_OFFSET - nodes} "
                          f"(transport ports go {TRANSPORT_OFFSET} above the HTTP ports)")
    return [NodeSpec(i, port + i, port + TRANSPORT_OFFSET + i, data_dir / f"node-{i}") for i in range(nodes)]


def render_opensearch_yml(node: NodeSpec, cluster: list[NodeSpec], extra: dict[str, object] | None = None) -> str:
    """opensearch.yml for one node of a loopback cluster; `extra` settings are added last and win.

    Everything binds to 127.0.0.1: OpenSearch then runs its bootstrap checks as warnings, not failures, so
    vm.max_map_count and file-descriptor limits of a sandbox or CI machine do not stop it. There is no
    `plugins.security.*` here: the integ-test distribution has no security plugin, and OpenSearch refuses
    settings of plugins it does not have. `indices.query.bool.max_clause_count` keeps its default.
    """
    own = {
        # seccomp may be unavailable in containers; on loopback a failure would only warn, this keeps the log
        # quiet and the behaviour the same on every machine.
        "bootstrap.system_call_filter": False,
    }
    # `extra`: static node settings a caller needs (the fault tests shrink `thread_pool.write.*` to provoke 429s).
    return _render_yml(node, cluster, own, "cluster.initial_cluster_manager_nodes", extra)


def render_elasticsearch_yml(node: NodeSpec, cluster: list[NodeSpec], extra: dict[str, object] | None = None) -> str:
    """elasticsearch.yml for one node of a loopback Elasticsearch 8.x cluster; `extra` settings win.

    As for OpenSearch, binding to 127.0.0.1 turns the bootstrap checks into warnings. The integ-test zip ships
    x-pack-security, which 8.x enables by default (TLS plus a generated password): the local node runs without
    it, like the OpenSearch one. ES 8 has no `bootstrap.system_call_filter` setting any more (it refuses unknown
    settings), and names the first masters `cluster.initial_master_nodes`.
    """
    return _render_yml(node, cluster, {"xpack.security.enabled": False}, "cluster.initial_master_nodes", extra)


def _render_yml(node: NodeSpec, cluster: list[NodeSpec], own: dict[str, object], first_masters_key: str,
                extra: dict[str, object] | None) -> str:
    """The settings both engines take, then the engine's `own`, discovery, and `extra` last (it wins)."""
    settings: dict[str, object] = {
        "cluster.name": CLUSTER_NAME,
        "node.name": node.name,
        "network.host": LOOPBACK,
        "http.port": node.http_port,
        "transport.port": node.transport_port,
        "path.data": str(node.data_path),
        "path.logs": str(node.logs_path),
        # A laptop or CI disk past 90% would otherwise block shard allocation (status stays red/yellow) and,
        # past 95%, make every index read-only; a throwaway local node should not care.
        "cluster.routing.allocation.disk.threshold_enabled": False,
        **own,
    }
    if len(cluster) == 1:
        settings["discovery.type"] = "single-node"
    else:
        settings["discovery.seed_hosts"] = [f"{LOOPBACK}:{n.transport_port}" for n in cluster]
        settings[first_masters_key] = [n.name for n in cluster]
    settings.update(extra or {})
    # JSON scalars and flow lists are valid YAML, and quoting paths keeps odd characters safe.
    lines = ["# Written by nail-os server start; rewritten on every start."]
    lines += [f"{key}: {json.dumps(value)}" for key, value in settings.items()]
    return "\n".join(lines) + "\n"


def render_jvm_options(distribution_options: str, node: NodeSpec, heap: str) -> str:
    """The distribution's jvm.options with our heap and absolute paths.

    The shipped file names `data`, `logs/gc.log` and `logs/hs_err_pid%p.log` relative to the working folder,
    which is the read-only distribution; the JVM refuses to start when it cannot open the GC log there.
    Every other line (GC choice, the 3.x agent, per-Java-version flags) is kept as shipped.
    """
    heap = check_heap(heap)
    out: list[str] = []
    for line in distribution_options.splitlines():
        stripped = line.strip()
        if re.match(r"^-Xm[sx]", stripped):
            continue
        line = line.replace("-XX:HeapDumpPath=data", f"-XX:HeapDumpPath={node.data_path}")
        line = line.replace("-XX:ErrorFile=logs/", f"-XX:ErrorFile={node.logs_path}/")
        line = line.replace("file=logs/gc.log", f"file={node.logs_path}/gc.log")
        line = line.replace("-Xloggc:logs/gc.log", f"-Xloggc:{node.logs_path}/gc.log")
        # Elasticsearch's integ-test zip names both files bare, relative to the working folder.
        line = line.replace("-XX:ErrorFile=hs_err_pid", f"-XX:ErrorFile={node.logs_path}/hs_err_pid")
        line = line.replace(":file=gc.log:", f":file={node.logs_path}/gc.log:")
        # 32 x 64 MB of GC logs is a production default; a local node keeps a little.
        line = line.replace("filecount=32,filesize=64m", "filecount=4,filesize=16m")
        out.append(line)
    out += ["", "# nail-os: heap (--heap); min = max avoids resizing pauses, as OpenSearch recommends.",
            f"-Xms{heap}", f"-Xmx{heap}"]
    return "\n".join(out) + "\n"


def render_log4j2(distribution_properties: str) -> str:
    """The shipped log4j2.properties without the console appender on the root logger.

    The node runs in the foreground of a detached process whose stdout goes to console.log; with the console
    appender every line would be written twice. Errors before logging starts still reach console.log.
    """
    kept = [line for line in distribution_properties.splitlines()
            if not re.match(r"^\s*rootLogger\.appenderRef\.console\.ref\s*=", line)]
    return "\n".join(kept) + "\n"
