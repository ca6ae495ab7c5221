"""The files a local node reads: opensearch.yml, jvm.options, log4j2.properties. No node needed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nail_os.server import ServerError
from nail_os.server.config import (
    check_heap,
    plan_nodes,
    render_jvm_options,
    render_log4j2,
    render_opensearch_yml,
)

# Lines of the jvm.options the OpenSearch 3.8.0 integ-test zip ships (the ones we rewrite, and neighbours).
SHIPPED_JVM_OPTIONS = """-Xms1g
-Xmx1g
11-:-XX:+UseG1GC
-Djava.io.tmpdir=${OPENSEARCH_TMPDIR}
-XX:+HeapDumpOnOutOfMemoryError
-XX:HeapDumpPath=data
-XX:ErrorFile=logs/hs_err_pid%p.log
8:-Xloggc:logs/gc.log
9-:-Xlog:gc*,gc+age=trace,safepoint:file=logs/gc.log:utctime,pid,tags:filecount=32,filesize=64m
21-:-javaagent:agent/opensearch-agent.jar
"""


def settings(yml: str) -> dict[str, object]:
    # We write one `key: <JSON value>` per line, which is also YAML.
    lines = [line for line in yml.splitlines() if line and not line.startswith("#")]
    return {key: json.loads(value) for key, value in (line.split(": ", 1) for line in lines)}


def test_one_node_is_a_loopback_single_node_cluster():
    [node] = plan_nodes(Path("/srv/nail"), 9200, 1)
    conf = settings(render_opensearch_yml(node, [node]))
    assert conf["network.host"] == "127.0.0.1"
    assert conf["http.port"] == 9200 and conf["transport.port"] == 9300
    assert conf["discovery.type"] == "single-node"
    assert conf["path.data"] == "/srv/nail/node-0/data" and conf["path.logs"] == "/srv/nail/node-0/logs"
    assert "cluster.initial_cluster_manager_nodes" not in conf


def test_three_nodes_find_each_other_on_their_transport_ports():
    nodes = plan_nodes(Path("/d"), 9250, 3)
    assert [(n.http_port, n.transport_port) for n in nodes] == [(9250, 9350), (9251, 9351), (9252, 9352)]
    conf = settings(render_opensearch_yml(nodes[2], nodes))
    assert conf["node.name"] == "node-2" and conf["http.port"] == 9252
    assert conf["discovery.seed_hosts"] == ["127.0.0.1:9350", "127.0.0.1:9351", "127.0.0.1:9352"]
    assert conf["cluster.initial_cluster_manager_nodes"] == ["node-0", "node-1", "node-2"]
    assert "discovery.type" not in conf  # single-node discovery and initial managers are exclusive


def test_no_security_plugin_settings_and_the_default_clause_limit():
    # OpenSearch refuses settings of a plugin it does not have, and the kit relies on the default limit.
    [node] = plan_nodes(Path("/d"), 9200, 1)
    yml = render_opensearch_yml(node, [node])
    assert "plugins.security" not in yml and "max_clause_count" not in yml


def test_jvm_options_get_our_heap_and_absolute_paths():
    [node] = plan_nodes(Path("/d"), 9200, 1)
    options = render_jvm_options(SHIPPED_JVM_OPTIONS, node, "512m").splitlines()
    assert [o for o in options if o.startswith("-Xm")] == ["-Xms512m", "-Xmx512m"]
    assert "-XX:HeapDumpPath=/d/node-0/data" in options
    assert "-XX:ErrorFile=/d/node-0/logs/hs_err_pid%p.log" in options
    assert "8:-Xloggc:/d/node-0/logs/gc.log" in options
    assert "9-:-Xlog:gc*,gc+age=trace,safepoint:file=/d/node-0/logs/gc.log:utctime,pid,tags:filecount=4," \
           "filesize=16m" in options
    # Untouched: the agent is found relative to the distribution, where the launcher cds to.
    assert "21-:-javaagent:agent/opensearch-agent.jar" in options
    assert not any("=logs/" in o or "=data" == o[-5:] for o in options)


@pytest.mark.parametrize("heap", ["1g", "512m", "2G"])
def test_heap_sizes_the_jvm_understands(heap):
    assert check_heap(heap) == heap.lower()


@pytest.mark.parametrize("heap", ["1", "1gb", "-1g", "lots", "0g"])
def test_heap_sizes_it_does_not(heap):
    with pytest.raises(ServerError, match=f"heap '{heap}' is not a JVM size"):
        check_heap(heap)


def test_port_and_node_count_are_checked():
    with pytest.raises(ServerError, match="--nodes must be at least 1, got 0"):
        plan_nodes(Path("/d"), 9200, 0)
    with pytest.raises(ServerError, match="--port 80 is out of range"):
        plan_nodes(Path("/d"), 80, 1)


def test_console_appender_removed_from_the_root_logger_only():
    shipped = "appender.console.type = Console\nrootLogger.level = info\n" \
              "rootLogger.appenderRef.console.ref = console\nrootLogger.appenderRef.rolling.ref = rolling\n"
    out = render_log4j2(shipped)
    assert "rootLogger.appenderRef.console.ref" not in out
    assert "appender.console.type = Console" in out and "rootLogger.appenderRef.rolling.ref = rolling" in out
