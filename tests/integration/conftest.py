"""The real nodes for integration tests: OpenSearch for every test, Elasticsearch 8.x for those that run on both.

`NAIL_OS_URL` (`NAIL_OS_ES_URL`) points the tests at a running OpenSearch (Elasticsearch) cluster; otherwise
the session starts the kit's local node on a free port with a throw-away data dir, and stops it at the end.
If a node will not start, the tests fail: a kit whose tests skip without a node proves nothing.

`node_url`/`client`/`index_name` are OpenSearch's. A test that takes `engine_url`/`engine_client`/
`engine_index` instead runs once per engine (`[opensearch]`, `[elasticsearch]` in its id); the Elasticsearch
node is started only if such a test is collected.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from nail_os.connection import ClusterConfig, make_client
from nail_os.engines import ENGINES


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def local_node(engine: str, url_env: str) -> Iterator[str]:
    """`url_env`'s cluster, else a local node of `engine` for the session (stopped and deleted after it)."""
    if os.environ.get(url_env):
        yield os.environ[url_env]
        return
    from nail_os import server

    port = free_port()
    # Not under pytest's tmp (mode 700): the node runs as its own user when the tests run as root.
    home = server.nail_home()
    home.mkdir(parents=True, exist_ok=True)
    data_dir = Path(tempfile.mkdtemp(prefix="test-node-" if engine == "opensearch" else f"test-{engine}-", dir=home))
    data_dir.chmod(0o755)
    try:
        url = server.start(port=port, data_dir=data_dir, heap="1g", engine=engine)  # type: ignore[arg-type]
    except Exception as exc:  # noqa: BLE001 - any failure to start is the test failure
        pytest.fail(f"the local {engine} node did not start: {exc}", pytrace=False)
    try:
        yield url
    finally:
        server.stop(data_dir, engine=engine)  # type: ignore[arg-type]
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def node_url() -> Iterator[str]:
    yield from local_node("opensearch", "NAIL_OS_URL")


@pytest.fixture(scope="session")
def es_node_url() -> Iterator[str]:
    yield from local_node("elasticsearch", "NAIL_OS_ES_URL")


@pytest.fixture(scope="session")
def client(node_url: str):
    return make_client(ClusterConfig(url=node_url, timeout=120))


@pytest.fixture()
def index_name(client) -> Iterator[str]:
    """A fresh index name, deleted after the test."""
    name = f"test-{uuid.uuid4().hex[:10]}"
    yield name
    client.indices.delete(index=name, ignore_unavailable=True)


@pytest.fixture(scope="session", params=ENGINES)
def engine(request) -> str:
    """Each engine in turn, for the tests that must hold on both."""
    return request.param


@pytest.fixture(scope="session")
def engine_url(engine, request) -> str:
    return request.getfixturevalue("node_url" if engine == "opensearch" else "es_node_url")


@pytest.fixture(scope="session")
def engine_client(engine, engine_url):
    """The engine's own client (opensearch-py or elasticsearch-py), as `make_client` gives it."""
    client = make_client(ClusterConfig(url=engine_url, timeout=120))
    from nail_os.engines import name_of

    assert name_of(client) == engine, f"{engine_url} was detected as {name_of(client)}, not {engine}"
    return client


@pytest.fixture()
def engine_index(engine_client) -> Iterator[str]:
    """A fresh index name on the engine's node, deleted after the test."""
    name = f"test-{uuid.uuid4().hex[:10]}"
    yield name
    engine_client.indices.delete(index=name, ignore_unavailable=True)


@pytest.fixture(scope="session")
def scifact_encoded(data):
    """SciFact encoded once per session by splade-tiny: (records with features, {doc_id: {token: weight}})."""
    from nail_os.corpus import read_corpus
    from nail_os.encoders import load_encoder
    from nail_os.registry import resolve_model_dir

    encoder = load_encoder(resolve_model_dir("splade-tiny"), device="cpu")
    records = list(read_corpus(data / "scifact"))
    features = encoder.encode_documents([r.full_text for r in records], batch_size=64)
    for record, weights in zip(records, features, strict=True):
        record.features = weights
    return records, {r.doc_id: r.features for r in records}
