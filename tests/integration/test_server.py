"""The local node for real: assemble (first run), start on a free port, serve the kit's mapping, stop.

These tests start their own nodes (not the session node of conftest.py) and fail, never skip, when a node
will not start: the message carries the node's last log lines.
"""

from __future__ import annotations

import json
import random
import shutil
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from nail_os import server
from nail_os.cli.server import server as server_cli
from nail_os.server import ServerError
from nail_os.server.java import select_release
from nail_os.server.node import pid_alive, port_free

pytestmark = pytest.mark.integration


def free_ports(nodes: int) -> int:
    """An HTTP port p with p..p+nodes-1 and their transport ports (+100) all free."""
    for _ in range(200):
        port = random.randint(20000, 30000)
        if all(port_free(p) for i in range(nodes) for p in (port + i, port + 100 + i)):
            return port
    raise RuntimeError("no free ports between 20000 and 30100")


@pytest.fixture()
def data_dir() -> Iterator[Path]:
    # Not tmp_path: as root the node runs as user nail-os, who cannot enter /tmp/pytest-of-root (0700).
    path = Path(tempfile.mkdtemp(prefix="nail-os-it-"))
    path.chmod(0o755)
    yield path
    server.stop(path)
    shutil.rmtree(path, ignore_errors=True)


def call(url: str, method: str = "GET", body: dict[str, Any] | None = None) -> dict[str, Any]:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"}
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    with urllib.request.urlopen(request, timeout=60) as resp:
        return json.loads(resp.read())


@pytest.mark.timeout(900)  # a cold assembly downloads ~160 MB first
def test_start_serve_rank_features_and_stop(data_dir):
    port = free_ports(1)
    url = server.start(port=port, data_dir=data_dir, heap="512m", timeout=300)
    assert url == f"http://127.0.0.1:{port}"

    expected_version = select_release()[0].version
    assert call(url)["version"]["number"] == expected_version
    assert call(url + "/_cluster/health")["status"] in ("green", "yellow")
    info = server.status(data_dir)
    assert info["running"] and info["url"] == url and info["version"] == expected_version
    assert pid_alive(info["pid"])

    # What the kit needs from the modules: rank_features (mapper-extras) and the english analyzer.
    call(url + "/kit", "PUT", {"mappings": {"properties": {
        "nail": {"type": "rank_features"}, "text": {"type": "text", "analyzer": "english"}}}})
    call(url + "/kit/_doc/1?refresh=true", "PUT", {"nail": {"run": 1.5, "dog": 0.3}, "text": "Running dogs"})
    hits = call(url + "/kit/_search", "POST", {"query": {"bool": {"should": [
        {"rank_feature": {"field": "nail.run", "linear": {}}}, {"match": {"text": "dog"}}]}}})["hits"]
    assert hits["total"]["value"] == 1
    assert hits["max_score"] == pytest.approx(1.5 + call(url + "/kit/_explain/1", "POST", {
        "query": {"match": {"text": "dog"}}})["explanation"]["value"], rel=1e-5)

    # A second start is a no-op that answers the same URL.
    assert server.start(port=port, data_dir=data_dir) == url
    assert server.status(data_dir)["pid"] == info["pid"]

    result = CliRunner().invoke(server_cli, ["status", "--data-dir", str(data_dir)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("running\n") and f"url:      {url}" in result.output
    assert "] started" in server.logs(data_dir, lines=200)

    assert server.stop(data_dir) is True
    assert not pid_alive(info["pid"])
    assert server.status(data_dir)["running"] is False
    assert port_free(port)
    assert server.stop(data_dir) is False


@pytest.mark.timeout(600)
def test_a_node_that_will_not_start_is_an_error_that_shows_why(data_dir, monkeypatch):
    monkeypatch.setenv("OPENSEARCH_JAVA_OPTS", "-XX:+NailOsNoSuchOption")  # the JVM refuses to start
    expected = r"(?s)node-0 exited with status \d+ while starting.*NailOsNoSuchOption"
    with pytest.raises(ServerError, match=expected):
        server.start(port=free_ports(1), data_dir=data_dir, timeout=300)
    assert server.status(data_dir)["running"] is False


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_three_local_nodes_form_one_cluster(data_dir):
    port = free_ports(3)
    url = server.start(port=port, data_dir=data_dir, nodes=3, timeout=420)
    nodes = call(url + "/_nodes/http")["nodes"]
    assert sorted(n["name"] for n in nodes.values()) == ["node-0", "node-1", "node-2"]
    assert call(f"http://127.0.0.1:{port + 2}/_cluster/health")["number_of_nodes"] == 3
    assert len(server.status(data_dir)["pids"]) == 3
    assert server.stop(data_dir) is True
    assert all(port_free(port + i) for i in range(3))
