"""Faults against the real node, with nothing lost: every document exactly once, checked by count, ids and a
checksum over (id, features) read back from the index.

Destructive tests (kill the node, starve its queues) run on a private node of their own, with its write and
search thread pools shrunk to one thread and a queue of one so that concurrent bulk requests and searches get
HTTP 429. The others use the session node: a proxy in front of it for slow and dropped links, index-level
blocks and mappings.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from nail_os.cli.main import main
from nail_os.connection import ClusterConfig, make_client
from nail_os.corpus import read_queries
from nail_os.ingest import Ingester, IngestError, IngestOptions, ingest
from nail_os.mapping import create_index
from nail_os.queries import QueryOptions
from nail_os.search import search

from ..conftest import ROOT
from .reliability_kit import (
    FaultyProxy,
    PrivateNode,
    all_at_once,
    assert_exactly_once,
    encoded_corpus,
    gated,
    kill_ingest_after,
    record_row,
    write_jsonl,
)

pytestmark = pytest.mark.integration

BAD = ROOT / "tests" / "data" / "bad_inputs"
# One thread and a queue of one: a second concurrent request waits, a third is refused with 429. A search of a
# one-shard index (every index here) is one task on the search pool, so a lone client is never refused.
STARVED = {"thread_pool.write.size": 1, "thread_pool.write.queue_size": 1,
           "thread_pool.search.size": 1, "thread_pool.search.queue_size": 1}


@pytest.fixture(scope="module")
def fault_node():
    node = PrivateNode(settings=STARVED)
    try:
        node.start()
    except Exception as exc:  # noqa: BLE001 - any failure to start is the test failure
        node.remove()
        pytest.fail(f"the private fault-test node did not start: {exc}", pytrace=False)
    yield node
    node.remove()


def throttled(records, pause: float):
    """Hand out records with a pause each: a run lasts long enough to be interrupted half-way."""
    for record in records:
        time.sleep(pause)
        yield record


# --- the node dies ---------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(600)
def ingest_cli(node_url: str, source: Path, index: str, rejects: Path, *, cache: Path | None = None):
    """`nail-os ingest SOURCE -i INDEX --model splade-tiny --rejects REJECTS`, in this process; `cache` is its
    XDG_CACHE_HOME (the resume state)."""
    args = ["--url", node_url, "ingest", str(source), "-i", index, "--model", "splade-tiny", "--rejects", str(rejects)]
    return CliRunner().invoke(main, args, env={"XDG_CACHE_HOME": str(cache)} if cache else None)


def test_node_killed_mid_ingest_and_restarted(fault_node, data, tokenizer, record_property, caplog):
    """SIGKILL the node's JVM while bulk requests flow, start it again on the same data dir: the running ingest
    rides it out on its backoff, and every acknowledged chunk survived the crash (translog fsync per request)."""
    records = encoded_corpus(data / "scifact", tokenizer)
    client = make_client(ClusterConfig(url=fault_node.start(), timeout=120))
    create_index(client, "killed", keep_features_in_source=True)
    options = IngestOptions(
        index="killed", chunk_size=100, resume=False, max_retries=60, initial_backoff=0.5, max_backoff=4.0
    )
    ingester = Ingester(client, options, tokenizer=tokenizer)
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["report"] = ingester.run(throttled(records, 0.001), show_progress=False)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            outcome["error"] = exc

    caplog.set_level(logging.WARNING, logger="nail_os.ingest")
    thread = threading.Thread(target=run, name="ingest")
    thread.start()
    deadline = time.monotonic() + 120
    while ingester.report.indexed < 1000 and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert thread.is_alive(), f"ingest ended before the node could be killed: {outcome}"
    killed = fault_node.kill()
    at_kill = ingester.report.indexed
    time.sleep(2)  # requests now meet a dead port
    restart_started = time.monotonic()
    fault_node.start()
    restart_s = time.monotonic() - restart_started
    thread.join(timeout=300)

    assert not thread.is_alive(), "ingest did not finish within 5 minutes of the restart"
    assert "error" not in outcome, f"ingest failed after the restart: {outcome.get('error')}"
    report = outcome["report"]
    assert report.indexed == len(records) and report.rejected == 0
    assert report.retries > 0 and any("ConnectionError" in r.getMessage() for r in caplog.records)
    assert_exactly_once(client, "killed", records, tokenizer)
    record_row(
        record_property,
        "node SIGKILLed mid-ingest, restarted on the same data dir",
        f"java pid {', '.join(map(str, killed))} killed after {at_kill} docs acknowledged; node back in "
        f"{restart_s:.0f} s; ingest "
        f"retried {report.retries}× (connection refused / 503) and finished; count + checksum exact",
        0,
    )


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_ingest_process_killed_and_rerun(client, node_url, data, tokenizer, tmp_path, record_property):
    """SIGKILL the CLI half-way through a pre-encoded file, run the same command again: it resumes from its
    state file, and the index holds each document once with the features it was sent."""
    records = encoded_corpus(data / "scifact", tokenizer)
    source = write_jsonl(records, tmp_path / "scifact-encoded.jsonl")
    index = "killed-cli"
    client.indices.delete(index=index, ignore_unavailable=True)
    create_index(client, index, keep_features_in_source=True)
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    cmd = [
        sys.executable,
        "-m",
        "nail_os",
        "--url",
        node_url,
        "ingest",
        str(source),
        "-i",
        index,
        "--no-create",
        "--model",
        "splade-tiny",
        "--chunk-size",
        "50",
        "--rejects",
        str(tmp_path / "rejects.jsonl"),
    ]
    done_before = kill_ingest_after(cmd, env, tmp_path, 1000, timeout=120, poll=0.02)
    assert 1000 <= done_before < len(records)

    second = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=240)
    assert second.returncode == 0, second.stderr
    assert f"skipped {done_before} done earlier" in second.stdout
    assert_exactly_once(client, index, records, tokenizer)
    client.indices.delete(index=index)
    record_row(
        record_property,
        "ingest process SIGKILLed half-way, same command rerun",
        f"killed after {done_before}/{len(records)} docs; rerun skipped those, sent the rest; count + checksum exact",
        0,
    )


# --- the node pushes back -----------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_back_pressure_429_is_retried_until_everything_lands(fault_node, data, tokenizer, record_property, caplog):
    """Four ingests at once against one write thread with a queue of one: the node answers 429, each run backs
    off and resends only the refused documents, and all of them land."""
    records = encoded_corpus(data / "scifact", tokenizer)[:2400]
    url = fault_node.start()
    client = make_client(ClusterConfig(url=url, timeout=120))
    client.indices.delete(index="starved", ignore_unavailable=True)
    create_index(client, "starved", keep_features_in_source=True)
    workers = 4
    reports: list[object] = [None] * workers

    def run(k: int) -> None:
        options = IngestOptions(
            index="starved",
            chunk_size=50,
            resume=False,
            refresh=False,
            max_retries=30,
            initial_backoff=0.05,
            max_backoff=1.0,
        )
        try:
            reports[k] = ingest(
                make_client(ClusterConfig(url=url, timeout=120)),
                records[k::workers],
                options,
                tokenizer=tokenizer,
                show_progress=False,
            )
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            reports[k] = exc

    caplog.set_level(logging.WARNING, logger="nail_os.ingest")
    all_at_once(run, workers, "ingest")
    assert all(not isinstance(r, BaseException) for r in reports), reports
    retries = sum(r.retries for r in reports)  # type: ignore[union-attr]
    assert sum(r.indexed for r in reports) == len(records) and not any(r.rejected for r in reports)  # type: ignore[union-attr]
    logged = [r.getMessage() for r in caplog.records if r.getMessage().startswith("retry ")]
    assert retries > 0 and len(logged) == retries, "each retry is logged once"
    assert all("429" in m and "rejected_execution_exception" in m for m in logged), logged[:3]
    assert_exactly_once(client, "starved", records, tokenizer)
    record_row(
        record_property,
        "write queue full: HTTP 429 (write pool of 1 thread, queue 1; 4 concurrent ingests)",
        f"{retries} bulk retries, each logged with the 429 reason; only refused docs resent; count + checksum exact",
        0,
    )


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_search_back_pressure_429_is_retried(fault_node, data, tokenizer, record_property, caplog):
    """Eight clients search at once against one search thread with a queue of one: the node refuses with 429,
    each search backs off and resends, and every client gets the hits a lone client gets."""
    url = fault_node.start()
    client = make_client(ClusterConfig(url=url, timeout=60))
    client.indices.delete(index="crowded", ignore_unavailable=True)
    create_index(client, "crowded")
    options = IngestOptions(index="crowded", chunk_size=500, resume=False)
    ingest(client, encoded_corpus(data / "scifact", tokenizer)[:1000], options, tokenizer=tokenizer,
           show_progress=False)
    queries = list(read_queries(data / "scifact" / "queries.jsonl").values())[:40]
    hybrid = QueryOptions(mode="hybrid")
    alone = [[h.doc_id for h in search(client, "crowded", q, tokenizer, hybrid, retries=0)] for q in queries]
    workers = 8
    failures: list[str] = []

    def crowd(k: int) -> None:
        own = make_client(ClusterConfig(url=url, timeout=60))
        for query, expected in zip(queries, alone, strict=True):
            try:
                got = [h.doc_id for h in search(own, "crowded", query, tokenizer, hybrid, retries=12)]
            except Exception as exc:  # noqa: BLE001 - what the user would see
                failures.append(f"client {k}: {type(exc).__name__}: {exc}"[:300])
                continue
            if got != expected:
                failures.append(f"client {k}: other hits for {query!r}")

    caplog.set_level(logging.WARNING, logger="nail_os.search")
    all_at_once(crowd, workers, "search")
    assert not failures, failures[:3]
    retries = [r.getMessage() for r in caplog.records if "retry" in r.getMessage()]
    assert retries, "eight clients on one search thread were never refused: the node is not starved"
    assert all("rejected" in m for m in retries), retries[:3]
    record_row(
        record_property,
        "search queue full: HTTP 429 (search pool of 1 thread, queue 1; 8 concurrent clients, 320 searches)",
        f"{len(retries)} search retries with jittered backoff; every answer equal to a lone client's",
        0,
    )


@pytest.mark.slow
@pytest.mark.timeout(240)
@pytest.mark.parametrize("mode", ["delay", "reset"])
def test_slow_or_dropped_link(client, node_url, data, tokenizer, mode, index_name, record_property):
    """A proxy holds back the node's answer past the request timeout ("delay": the node has indexed the chunk,
    the client does not know) or drops the connection mid-request ("reset"): resends overwrite, never duplicate."""
    records = encoded_corpus(data / "scifact", tokenizer)[:1500]
    create_index(client, index_name, keep_features_in_source=True)
    faults = 3
    with FaultyProxy(node_url.removeprefix("http://"), mode, faults=faults, delay=2.5) as proxy:
        via_proxy = make_client(ClusterConfig(url=proxy.url, timeout=30))
        options = IngestOptions(
            index=index_name, chunk_size=100, resume=False, request_timeout=1.0, initial_backoff=0.1, max_retries=5
        )
        report = ingest(via_proxy, records, options, tokenizer=tokenizer, show_progress=False)
    assert proxy.faulted == faults
    assert report.retries == faults, "each spoiled request is retried once, and only those"
    assert report.indexed == len(records) and report.rejected == 0
    assert_exactly_once(client, index_name, records, tokenizer)
    what = "answer held 2.5 s past a 1 s request timeout" if mode == "delay" else "connection cut mid-request"
    record_row(
        record_property,
        f"slow / dropped link ({mode}): {what}, 3 bulk requests",
        f"{report.retries} timeouts/resets retried; resends overwrite by _id; count + checksum exact",
        0,
    )


# --- the index refuses -----------------------------------------------------------------------------------------


@pytest.mark.timeout(120)
@pytest.mark.parametrize("overlap", [False, True], ids=["sequential", "overlapped"])
def test_flood_stage_block_stops_clearly_and_resumes(
    client, data, tokenizer, index_name, tmp_path, record_property, overlap
):
    """The read-only-allow-delete block (what a disk past the flood-stage watermark sets) appears mid-run: the run
    stops with an error naming the block and how to lift it, keeps its state, and a rerun after lifting completes.

    The block is set when record 301 is read. Sequentially, chunks 1-3 are acknowledged by then; overlapped, the
    sender may still hold chunk 2 or 3 (one in flight, one queued), so the state marks 100, 200 or 300: always
    the acknowledged prefix, and the rerun sends exactly the rest."""
    records = encoded_corpus(data / "scifact", tokenizer)[:1000]
    create_index(client, index_name, keep_features_in_source=True)
    block = {"index.blocks.read_only_allow_delete": True}
    options = IngestOptions(
        index=index_name,
        chunk_size=100,
        state_path=tmp_path / "state.json",
        rejects_path=tmp_path / "rejects.jsonl",
        max_retries=2,
        initial_backoff=0.1,
        overlap=overlap,
    )
    stream = gated(records, 301, lambda: client.indices.put_settings(index=index_name, body=block))
    with pytest.raises(IngestError) as stopped:
        ingest(client, stream, options, tokenizer=tokenizer, show_progress=False)
    message = str(stopped.value)
    assert "gave up on 100 documents" in message and "read-only-allow-delete block" in message
    assert "index.blocks.read_only_allow_delete" in message and "run the same command again" in message
    done = json.loads((tmp_path / "state.json").read_text())["position"]
    assert done == 300 if not overlap else done in (100, 200, 300)
    client.indices.refresh(index=index_name)
    assert client.count(index=index_name)["count"] == done
    assert not (tmp_path / "rejects.jsonl").exists(), "blocked documents are not rejects: the rerun sends them"

    client.indices.put_settings(index=index_name, body={"index.blocks.read_only_allow_delete": None})
    report = ingest(client, records, options, tokenizer=tokenizer, show_progress=False)
    assert report.skipped == done and report.indexed == 1000 - done and report.rejected == 0
    assert not (tmp_path / "state.json").exists()
    assert_exactly_once(client, index_name, records, tokenizer)
    mode = "overlapped sender" if overlap else "sequential sender"
    record_row(
        record_property,
        f"flood-stage block (index.blocks.read_only_allow_delete) set mid-run, {mode}",
        "429 cluster_block_exception retried, then IngestError naming the block and the PUT that lifts it; "
        f"state at {done}/1000; rerun after lifting sent the other {1000 - done}; count + checksum exact",
        0,
    )


@pytest.mark.parametrize(
    "mapping", [{"type": "rank_feature"}, {"type": "float"}, None], ids=["rank_feature", "float", "missing"]
)
def test_mapping_conflict_fails_before_any_document(client, node_url, index_name, tmp_path, mapping, record_property):
    properties = {"text": {"type": "text"}, **({"nail": mapping} if mapping else {})}
    client.indices.create(index=index_name, body={"mappings": {"properties": properties}})
    rejects = tmp_path / "rejects.jsonl"
    result = ingest_cli(node_url, BAD / "features.jsonl", index_name, rejects)
    assert result.exit_code == 1, result.output
    if mapping:
        assert f"index '{index_name}' maps 'nail' as '{mapping['type']}', not rank_features" in result.output
    else:
        assert f"nail-os index add-nail-field {index_name}" in result.output
    client.indices.refresh(index=index_name)
    assert client.count(index=index_name)["count"] == 0 and not rejects.exists()
    record_row(
        record_property,
        f"mapping conflict: nail field {mapping['type'] if mapping else 'missing'}",
        "exit 1 before any bulk request, message names index, field and fix; 0 docs sent",
        0,
    )


def test_conflicting_text_field_rejects_each_document_with_its_reason(
    client, node_url, index_name, tmp_path, record_property
):
    """A user's index maps `title` as a date: the node refuses each titled document (400); each is listed in the
    rejects file with the engine's reason, the others are indexed, and the exit code says so."""
    body = {
        "mappings": {
            "properties": {
                "nail": {"type": "rank_features"},
                "title": {"type": "date"},
                "text": {"type": "text"},
                "doc_id": {"type": "keyword"},
            }
        }
    }
    client.indices.create(index=index_name, body=body)
    source = tmp_path / "titled.jsonl"
    source.write_text(
        "".join(
            json.dumps(d) + "\n"
            for d in [
                {"_id": "t1", "title": "Coffee", "features": {"coffee": 1.0}},
                {"_id": "t2", "features": {"tea": 1.0}},
                {"_id": "t3", "title": "2024-01-01", "features": {"tea": 1.0}},
                {"_id": "t4", "title": "Tea", "features": {"tea": 2.0}},
            ]
        )
    )
    rejects = tmp_path / "rejects.jsonl"
    result = ingest_cli(node_url, source, index_name, rejects)
    assert result.exit_code == 3, result.output
    listed = {r["id"]: r["reason"] for r in map(json.loads, rejects.read_text().splitlines())}
    assert set(listed) == {"t1", "t4"}
    assert all("refused by the cluster (HTTP 400): mapper_parsing_exception" in r for r in listed.values())
    client.indices.refresh(index=index_name)
    ids = {h["_id"] for h in client.search(index=index_name, body={"size": 10})["hits"]["hits"]}
    assert ids == {"t2", "t3"}
    record_row(
        record_property,
        "field conflict: title mapped as date in the user's index",
        "2 titled docs refused (HTTP 400 mapper_parsing_exception) → rejects file with reason, exit 3; "
        "2 others indexed",
        0,
    )


# --- bad input, end to end ---------------------------------------------------------------------------------


def documents_with_a_big_one(tmp_path: Path) -> Path:
    """The kept bad documents plus a 1 MB document, made here rather than committed."""
    big = {"_id": "one-megabyte", "title": "Long", "text": "Coffee is brewed from roasted beans. " * 28_000}
    path = tmp_path / "documents.jsonl"
    path.write_bytes((BAD / "documents.jsonl").read_bytes() + json.dumps(big).encode() + b"\n")
    return path


@pytest.mark.timeout(300)
def test_bad_input_corpus_end_to_end(client, node_url, index_name, tmp_path, record_property):
    """Every bad line is rejected with its line and reason, every good one indexed, the 1 MB document encoded
    from its start and counted as truncated; a second file of bad pre-encoded features, the same."""
    rejects = tmp_path / "rejects.jsonl"
    source = documents_with_a_big_one(tmp_path)
    result = ingest_cli(node_url, source, index_name, rejects, cache=tmp_path / "cache")
    assert result.exit_code == 3, result.output
    listed = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert sorted(r["line"] for r in listed) == [2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 18]
    assert all(r["source"] == str(source) and r["reason"] for r in listed)
    assert "duplicate document id" in next(r["reason"] for r in listed if r["line"] == 7)
    good = {"ok-1", "control-chars", "ok-2", "unicode-ok", "unk-script", "ok-3", "one-megabyte"}
    client.indices.refresh(index=index_name)
    stored = {h["_id"]: h["_source"] for h in client.search(index=index_name, body={"size": 50})["hits"]["hits"]}
    assert set(stored) == good
    assert stored["control-chars"]["text"] == "bell\u0007 nul\u0000 escape\u001b tab\t carriage\r done"
    assert len(stored["one-megabyte"]["text"]) == 28_000 * 37, "the text is stored whole, only encoding is cut"
    assert f"indexed {len(good)} documents" in result.output and "; 1 truncated" in result.output
    assert "1 documents were longer than the encoder reads" in result.output
    ok_1 = client.get(index=index_name, id="ok-1")["_source"]["text"]
    assert ok_1.startswith("Coffee is a brewed drink"), "the first of two records with one id is kept"

    features_index = f"{index_name}-f"
    try:
        feats = ingest_cli(node_url, BAD / "features.jsonl", features_index, tmp_path / "f-rejects.jsonl",
                           cache=tmp_path / "cache")
        assert feats.exit_code == 3, feats.output
        refused = {json.loads(line)["id"] for line in (tmp_path / "f-rejects.jsonl").read_text().splitlines()}
        kept = {"f-ok", "f-some-zero", "f-subnormal", "f-with-text"}
        client.indices.refresh(index=features_index)
        assert {h["_id"] for h in client.search(index=features_index, body={"size": 50})["hits"]["hits"]} == kept
        assert len(refused) == 12 and not refused & kept
    finally:
        client.indices.delete(index=features_index, ignore_unavailable=True)
    record_row(
        record_property,
        "bad documents (malformed JSON, missing/empty/list/duplicate/long ids, empty and "
        "blank text, lone surrogate, non-UTF-8, text not a string) + a 1 MB document",
        "12 lines rejected with line + reason (exit 3); 7 good indexed; control characters kept; the 1 MB "
        "doc stored whole, encoded from its first 256 tokens and reported as truncated",
        0,
    )
    record_row(
        record_property,
        "bad features (NaN, ±inf, negative, zero, subnormal, > float32, empty/dotted/"
        "unknown names, string weight, not an object, empty)",
        "12 rejected with the token and value named; zero/subnormal weights dropped, the rest kept",
        0,
    )
