"""Load: concurrent searches against the real node while an ingest writes into the same index. No request may
fail, no document may be lost, and the latency percentiles go to the reliability report (eval/reliability.py).

`NAIL_OS_LOAD_SECONDS` (default 30) and `NAIL_OS_LOAD_THREADS` (default 8) size the run; CI keeps the defaults.
"""

from __future__ import annotations

import itertools
import json
import os
import threading
import time
from collections.abc import Iterable, Iterator

import pytest

from nail_os.connection import ClusterConfig, make_client
from nail_os.corpus import Record, read_queries
from nail_os.ingest import IngestOptions, ingest
from nail_os.mapping import create_index
from nail_os.queries import QueryOptions, build_query

from .reliability_kit import assert_exactly_once, encoded_corpus, record_row

pytestmark = pytest.mark.integration

SECONDS = float(os.environ.get("NAIL_OS_LOAD_SECONDS", "30"))
THREADS = int(os.environ.get("NAIL_OS_LOAD_THREADS", "8"))
MODES = ("nail", "bm25", "hybrid")


def percentiles(values: list[float]) -> dict[str, float]:
    """p50/p95/p99 by the nearest-rank method, in milliseconds rounded to 0.1."""
    ordered = sorted(values)

    def rank(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, max(0, int(round(p / 100 * len(ordered))) - 1))], 1)

    return {"p50": rank(50), "p95": rank(95), "p99": rank(99)}


def until(stop: threading.Event, records: Iterable[Record]) -> Iterator[Record]:
    for record in records:
        if stop.is_set():
            return
        yield record


@pytest.mark.slow
@pytest.mark.timeout(int(SECONDS) + 240)
def test_concurrent_search_during_ingest(client, node_url, data, tokenizer, record_property):
    records = encoded_corpus(data / "scifact", tokenizer)
    queries = list(read_queries(data / "scifact").values())[:300]
    index = "load"
    client.indices.delete(index=index, ignore_unavailable=True)
    create_index(client, index, keep_features_in_source=True)
    half = len(records) // 2
    ingest(client, records[:half], IngestOptions(index=index, resume=False), tokenizer=tokenizer, show_progress=False)

    stop = threading.Event()
    writer: dict[str, object] = {}

    def write() -> None:
        """The second half, then whole-corpus passes (each overwrites by _id) until the load ends."""
        writer_client = make_client(ClusterConfig(url=node_url, timeout=120))
        options = IngestOptions(index=index, chunk_size=100, resume=False, refresh=False)
        totals = {"indexed": 0, "retries": 0, "rejected": 0, "passes": 0}
        try:
            for batch in itertools.chain([records[half:]], itertools.repeat(records)):
                if stop.is_set():
                    break
                report = ingest(writer_client, until(stop, batch), options, tokenizer=tokenizer, show_progress=False)
                totals["passes"] += 1
                for key in ("indexed", "retries", "rejected"):
                    totals[key] += getattr(report, key)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            writer["error"] = exc
        writer["totals"] = totals

    latencies: dict[str, list[float]] = {m: [] for m in MODES}
    took: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def read(k: int) -> None:
        reader = make_client(ClusterConfig(url=node_url, timeout=30))
        deadline = time.monotonic() + SECONDS
        for n in itertools.count(k):
            if time.monotonic() > deadline:
                return
            mode = MODES[n % len(MODES)]
            body = build_query(queries[n % len(queries)], tokenizer, QueryOptions(mode=mode, size=10))
            started = time.perf_counter()
            try:
                response = reader.search(index=index, body=body)
            except Exception as exc:  # noqa: BLE001 - every failure is counted, none may happen
                with lock:
                    errors.append(f"{mode}: {type(exc).__name__}: {exc}"[:300])
                continue
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                latencies[mode].append(elapsed)
                took.append(float(response["took"]))
                if response["_shards"]["failed"]:
                    errors.append(f"{mode}: shard failures {response['_shards']}"[:300])

    writer_thread = threading.Thread(target=write, name="load-writer")
    readers = [threading.Thread(target=read, args=(k,), name=f"load-reader-{k}") for k in range(THREADS)]
    writer_thread.start()
    for t in readers:
        t.start()
    for t in readers:
        t.join(timeout=SECONDS + 60)
    stop.set()
    writer_thread.join(timeout=120)

    assert not errors, f"{len(errors)} failed searches, first: {errors[:3]}"
    assert "error" not in writer, f"the ingest under load failed: {writer.get('error')}"
    totals: dict[str, int] = writer["totals"]  # type: ignore[assignment]
    assert totals["rejected"] == 0 and totals["indexed"] >= len(records) - half, totals
    assert_exactly_once(client, index, records, tokenizer)
    searches = sum(len(v) for v in latencies.values())
    assert searches >= THREADS * 10, f"only {searches} searches in {SECONDS:.0f} s"

    summary = {
        "seconds": SECONDS, "threads": THREADS, "searches": searches, "errors": len(errors),
        "searches_per_second": round(searches / SECONDS, 1),
        "docs_written_during_load": totals["indexed"], "ingest_passes": totals["passes"],
        "write_retries": totals["retries"],
        "client_ms": {**{m: percentiles(v) for m, v in latencies.items()},
                      "all": percentiles([ms for v in latencies.values() for ms in v])},
        "server_took_ms": percentiles(took),
    }
    record_property("load", json.dumps(summary))
    record_row(record_property, f"load: {THREADS} search threads × {SECONDS:.0f} s while ingesting into the same index",
               f"{searches} searches ({summary['searches_per_second']}/s), 0 errors; {totals['indexed']} docs "
               f"written meanwhile; client p50/p95/p99 {summary['client_ms']['all']['p50']}/"
               f"{summary['client_ms']['all']['p95']}/{summary['client_ms']['all']['p99']} ms; count + checksum exact",
               0)
    client.indices.delete(index=index)
