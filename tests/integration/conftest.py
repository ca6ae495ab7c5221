"""The real OpenSearch node for integration tests.

`NAIL_OS_URL` points the tests at a running cluster; otherwise the session starts the kit's local
node on a free port with a throw-away data dir, and stops it at the end. If the node will not start,
the tests fail: a kit whose tests skip without a node proves nothing.
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def node_url() -> Iterator[str]:
    if os.environ.get("NAIL_OS_URL"):
        yield os.environ["NAIL_OS_URL"]
        return
    from nail_os import server

    port = free_port()
    # Not under pytest's tmp (mode 700): the node runs as its own user when the tests run as root.
    home = server.nail_home()
    home.mkdir(parents=True, exist_ok=True)
    data_dir = Path(tempfile.mkdtemp(prefix="test-node-", dir=home))
    data_dir.chmod(0o755)
    try:
        url = server.start(port=port, data_dir=data_dir, heap="1g")
    except Exception as exc:  # noqa: BLE001 - any failure to start is the test failure
        pytest.fail(f"the local OpenSearch node did not start: {exc}", pytrace=False)
    try:
        yield url
    finally:
        server.stop(data_dir)
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def client(node_url: str):
    return make_client(ClusterConfig(url=node_url, timeout=120))


@pytest.fixture()
def index_name(client) -> Iterator[str]:
    """A fresh index name, deleted after the test."""
    name = f"test-{uuid.uuid4().hex[:10]}"
    yield name
    client.indices.delete(index=name, ignore_unavailable=True)


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
