"""Scale-out: a 3-node local cluster, an index of 3 shards + 1 replica, and one node SIGKILLed while a client
searches one index and ingests into another. The user sees no error and loses no document.

What makes that hold:
- the client is given every node's address (`--url a,b,c`, opensearch-py's `hosts` list): a request whose node
  died is marked dead and resent to the next node; ingest also resends the whole idempotent chunk itself
  (`nail_os.ingest`: documents are keyed by id, so a resent chunk overwrites, never duplicates);
- a search that a surviving node answers with HTTP 500 (its query or fetch phase reached the dead node's copies
  before the cluster state dropped them) or with failed shards is resent after a short backoff
  (`nail_os.search.send`);
- one replica: every shard still has a live copy, which the coordinating node fails over to (searches) or
  promotes to primary (writes wait for the new cluster state, then go through).
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from nail_os.connection import ClusterConfig, make_client
from nail_os.corpus import Record, read_corpus, read_queries
from nail_os.ingest import IngestOptions, ingest
from nail_os.mapping import create_index
from nail_os.queries import QueryOptions
from nail_os.search import search

from .reliability_kit import record_row

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NODES = 3
HEAP = "512m"  # DEFAULT_HEAP_MULTI: three nodes fit a 4 GB CI runner
DOCS = 2500  # per index (scifact has 5,183 documents); chunks of 50, so the kill lands mid-ingest
CHUNK = 50


def free_port_block() -> int:
    """An HTTP port p with p..p+2 and their transport ports p+100..p+102 all free."""
    from nail_os.server.node import port_free

    for _ in range(200):
        port = random.randint(20000, 40000)
        if all(port_free(p) for i in range(NODES) for p in (port + i, port + 100 + i)):
            return port
    raise RuntimeError("no free block of ports for a 3-node cluster")


def pre_encoded(records: list[Record], tokenizer) -> list[Record]:
    """A model-free stand-in for encoded documents: each distinct token, weighted 1 + ln(count)."""
    for record in records:
        ids = tokenizer.hf.encode(record.full_text, add_special_tokens=False).ids
        counts = Counter(i for i in ids if i not in tokenizer.special_ids)
        record.features = {tokenizer.id_to_token(i): 1.0 + math.log(c) for i, c in counts.items()}
    return records


def wait_health(client, indices: list[str], tries: int = 4, **conditions: str) -> dict:
    """Cluster health once `conditions` hold, each try waiting the server's default 30 s (opensearch-py takes a
    `timeout` argument as its own socket timeout, so the server-side wait cannot be set through it)."""
    for _ in range(tries):
        health = client.cluster.health(index=indices, **conditions)
        if not health["timed_out"]:
            break
    return health


@pytest.fixture(scope="module")
def cluster():
    from nail_os import server

    home = server.nail_home()
    home.mkdir(parents=True, exist_ok=True)
    data_dir = Path(tempfile.mkdtemp(prefix="test-cluster-", dir=home))
    data_dir.chmod(0o755)  # the node runs as its own user when the tests run as root
    port = free_port_block()
    try:
        server.start(port=port, data_dir=data_dir, heap=HEAP, nodes=NODES, timeout=400)
    except Exception as exc:  # noqa: BLE001 - any failure to start is the test failure
        shutil.rmtree(data_dir, ignore_errors=True)
        pytest.fail(f"the 3-node cluster did not start: {exc}", pytrace=False)
    try:
        yield data_dir, [f"http://127.0.0.1:{port + i}" for i in range(NODES)]
    finally:
        server.stop(data_dir)
        shutil.rmtree(data_dir, ignore_errors=True)


def test_killing_a_node_during_search_and_ingest_loses_nothing(cluster, data, tokenizer, record_property, caplog,
                                                               tmp_path):
    """The ingest runs through the CLI given the three nodes (`nail-os --url a,b,c ingest`), the searches through
    the client the CLI builds from that list."""
    from nail_os import server

    data_dir, urls = cluster
    assert server.status(data_dir)["nodes"] == NODES
    # Every node's address, as the CLI's --url a,b,c gives it; searches are safe to resend on another node.
    client = make_client(ClusterConfig(url=",".join(urls), timeout=90), retry_on_timeout=True)
    records = pre_encoded(list(read_corpus(data / "scifact"))[: 2 * DOCS], tokenizer)
    static, live = "cluster-static", "cluster-live"
    for name in (static, live):
        create_index(client, name, shards=3, replicas=1)
    assert not wait_health(client, [static, live], wait_for_status="green")["timed_out"]
    options = IngestOptions(index=static, chunk_size=500, resume=False, state_path=None)
    assert ingest(client, records[:DOCS], options, tokenizer=tokenizer, show_progress=False).indexed == DOCS

    # Shards spread over all three nodes, each with a copy elsewhere.
    shards = client.cat.shards(index=static, format="json")
    assert {s["node"] for s in shards} == {f"node-{i}" for i in range(NODES)}

    queries = list(read_queries(data / "scifact" / "queries.jsonl").values())[:30]
    nail = QueryOptions(mode="nail")
    baseline = [[h.doc_id for h in search(client, static, q, tokenizer, nail)] for q in queries]

    stop = threading.Event()
    search_errors: list[str] = []
    mismatches: list[str] = []
    searches = [0]

    def keep_searching() -> None:
        while not stop.is_set():
            for query, expected in zip(queries, baseline, strict=True):
                try:
                    got = [h.doc_id for h in search(client, static, query, tokenizer, nail)]
                except Exception as exc:  # noqa: BLE001 - any exception is what the user would see
                    search_errors.append(f"{type(exc).__name__}: {exc}"[:300])
                    continue
                searches[0] += 1
                if got != expected:
                    mismatches.append(query)

    source = tmp_path / "live.jsonl"
    source.write_text("".join(json.dumps({"_id": r.doc_id, "title": r.title, "text": r.text, "features": r.features})
                              + "\n" for r in records[DOCS:]), encoding="utf-8")
    cli = [sys.executable, "-m", "nail_os", "--url", ",".join(urls), "--timeout", "90"]
    caplog.set_level(logging.WARNING, logger="nail_os.search")
    searcher = threading.Thread(target=keep_searching)
    searcher.start()
    ingester = subprocess.Popen(
        [*cli, "ingest", str(source), "--index", live, "--no-create", "--no-resume", "--chunk-size", str(CHUNK),
         "--max-retries", "10", "--model", "splade-tiny", "--rejects", str(tmp_path / "rejects.jsonl")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # Kill once both are under way: a fifth of the live documents in and some searches answered.
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and ingester.poll() is None:
        if client.count(index=live)["count"] >= DOCS // 5 and searches[0] >= 10:
            break
        client.indices.refresh(index=live)
        time.sleep(0.2)
    manager = client.cat.cluster_manager(format="json")[0]["node"]
    status = server.status(data_dir)
    # Not the cluster manager: its loss adds an election (a few seconds of 503s) to what this test checks.
    # A data node holding primaries and replicas of both indices is the case the replica exists for.
    victim_index = next(i for i in range(NODES) if f"node-{i}" != manager)
    victim_pid = status["pids"][victim_index]
    assert ingester.poll() is None, "ingest finished before the kill: raise DOCS or lower CHUNK"
    os.kill(victim_pid, signal.SIGKILL)
    killed_at_count = client.count(index=live)["count"]

    out, err = ingester.communicate(timeout=600)
    time.sleep(2.0)  # searches keep running on the survivors after the ingest is done
    stop.set()
    searcher.join(timeout=120)

    assert ingester.returncode == 0, f"ingest surfaced an error: {err[-2000:]}"
    assert f"indexed {DOCS} documents" in out and "; 0 rejected" in out, out
    retries = int(out.split(" retries;")[0].rsplit(" ", 1)[1])
    client.indices.refresh(index=live)
    assert client.count(index=live)["count"] == DOCS, "documents were lost"
    ids = {h["_id"] for h in client.search(index=live, body={"size": DOCS, "_source": False})["hits"]["hits"]}
    assert ids == {r.doc_id for r in records[DOCS:]}
    assert killed_at_count < DOCS, "the kill happened after the last document was in"
    assert not search_errors, f"{len(search_errors)} searches failed, e.g. {search_errors[:3]}"
    assert not mismatches, f"{len(mismatches)} searches returned other hits than before the kill"
    assert searches[0] > 2 * len(queries)
    health = wait_health(client, [static, live], wait_for_nodes=str(NODES - 1))
    assert health["status"] in ("green", "yellow") and health["number_of_nodes"] == NODES - 1
    resent = sum("retry" in r.getMessage() for r in caplog.records if r.name == "nail_os.search")
    # The CLI's search with the dead node first in the list: the client moves on to a live one.
    dead = urls[victim_index]
    hosts = ",".join([dead, *(u for u in urls if u != dead)])
    found = subprocess.run([sys.executable, "-m", "nail_os", "--url", hosts, "search", queries[0], "--index", static,
                            "--model", "splade-tiny"], capture_output=True, text=True, timeout=120)
    assert found.returncode == 0 and baseline[0][0] in found.stdout, found.stderr[-2000:]
    record_row(
        record_property,
        f"{NODES}-node cluster (3 shards + 1 replica): a data node SIGKILLed while one client searches one index "
        "and ingests into another",
        f"{searches[0]} searches, {resent} resent after the kill, all with the hits from before it; the CLI's "
        f"ingest (--url a,b,c) retried {retries}× and finished; count + ids exact; {NODES - 1} nodes left, "
        f"{health['status']}",
        0,
    )


def test_the_nail_query_ranks_alike_from_every_node(cluster, data):
    """The plugin's `nail` query travels to shards on other nodes (NailQueryBuilder's stream form): asked at
    each live node, with the model from the nodes' config folders or uploaded once to the cluster, it returns
    the client-built body's hits and scores."""
    from opensearchpy import helpers

    from nail_os.mapping import index_body
    from nail_os.registry import resolve_model_dir
    from nail_os.server.plugin import delete_model, upload_model
    from nail_os.tokens import Tokenizer

    from .test_plugin import scifact_actions, without_statistics

    _, urls = cluster
    # All nodes, or the two the fault test left.
    live_urls = [url for url in urls if make_client(ClusterConfig(url=url, timeout=5)).ping()]
    assert len(live_urls) >= 2
    client = make_client(ClusterConfig(url=live_urls[0], timeout=90))
    index = "cluster-plugin"
    shipped = Tokenizer.from_model_dir(resolve_model_dir("nail-minilm"))
    # Without `nail_tokens`: each shard would weigh tokens by its own statistics, which no one client body can.
    client.indices.create(index=index, body=without_statistics(index_body(shards=3)))
    helpers.bulk(client, scifact_actions(data, shipped, index, statistics=False)[:DOCS], chunk_size=500)
    client.indices.refresh(index=index)
    assert len({s["node"] for s in client.cat.shards(index=index, format="json")}) >= 2
    queries = list(read_queries(data / "scifact" / "queries.jsonl").values())[:20]
    expected = [[(h.doc_id, h.score) for h in search(client, index, q, shipped, QueryOptions(mode="nail"))]
                for q in queries]
    # The model as a folder on every node, and uploaded once through one node (the system index reaches all).
    upload_model(client, "cluster-uploaded", resolve_model_dir("nail-minilm"))
    for url in live_urls:
        node_client = make_client(ClusterConfig(url=url, timeout=90))
        for model in ("nail-minilm", "cluster-uploaded"):
            server_side = QueryOptions(mode="nail", server_side=True, model=model)
            got = [[(h.doc_id, h.score) for h in search(node_client, index, q, None, server_side)] for q in queries]
            assert [[d for d, _ in hits] for hits in got] == [[d for d, _ in hits] for hits in expected], (url, model)
            assert all(math.isclose(a, b, rel_tol=1e-6) for g, e in zip(got, expected, strict=True)
                       for (_, a), (_, b) in zip(g, e, strict=True)), (url, model)
    delete_model(client, "cluster-uploaded")
    client.indices.delete(index=index)
