"""What a mode costs: query latency (client wall time and the server's `took`), index size, postings.

Latency is measured so that the modes can be compared with each other rather than with another
machine: every mode runs the same queries on the same node and index, with the shard request cache
off (`request_cache=false`, else a repeated query is answered from memory), after a warm-up pass, and
interleaved query by query in a rotating mode order, so that load from other processes and JIT or
cache drift hit every mode alike. The numbers worth quoting are the ratios to BM25.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from opensearchpy import OpenSearch

PERCENTILES: tuple[int, ...] = (50, 95, 99)
# Force merges of a whole index can take minutes on a big one; the client's default timeout is 60 s.
MERGE_TIMEOUT_S = 1800


def percentiles(samples: Sequence[float]) -> dict[str, float | int]:
    """p50/p95/p99 (numpy's linear interpolation), mean and sample count of latency samples.

    >>> percentiles([1.0, 2.0, 3.0, 4.0])["p50"]
    2.5
    """
    if not samples:
        raise ValueError("no latency samples: run at least one query per mode")
    values = np.asarray(samples, dtype=np.float64)
    out: dict[str, float | int] = {f"p{p}": float(np.percentile(values, p)) for p in PERCENTILES}
    out["mean"] = float(values.mean())
    out["n"] = int(len(values))
    return out


def ratio(value: float, baseline: float) -> float | None:
    """value / baseline, or None where the baseline is 0 (e.g. a `took` of 0 ms: it counts whole ms)."""
    return value / baseline if baseline > 0 else None


def latency_ratios(
    stats: Mapping[str, Mapping[str, Mapping[str, float]]], baseline: str = "bm25"
) -> dict[str, dict[str, dict[str, float | None]]]:
    """Each mode's percentiles (and mean) divided by the baseline mode's, per clock.

    `stats` is `{mode: {clock: percentiles(...)}}` with clocks such as "client_ms" and "took_ms".

    >>> latency_ratios({"bm25": {"client_ms": {"p50": 2.0}}, "nail": {"client_ms": {"p50": 3.0}}})
    {'bm25': {'client_ms': {'p50': 1.0}}, 'nail': {'client_ms': {'p50': 1.5}}}
    """
    if baseline not in stats:
        raise ValueError(f"latency ratios need the {baseline!r} mode as baseline; modes given: {', '.join(stats)}")
    base = stats[baseline]
    return {
        mode: {
            clock: {k: ratio(v, base[clock][k]) for k, v in values.items() if k != "n"}
            for clock, values in clocks.items()
        }
        for mode, clocks in stats.items()
    }


def interleaved_schedule(query_ids: Sequence[str], modes: Sequence[str], *, repeats: int, seed: int = 0
                         ) -> list[tuple[str, str]]:
    """(query id, mode) pairs: each repeat visits the queries in a fresh shuffled order, and each query runs
    every mode back to back, starting with a different mode each time (round robin).

    >>> interleaved_schedule(["a", "b"], ["bm25", "nail"], repeats=1, seed=0)
    [('a', 'bm25'), ('a', 'nail'), ('b', 'nail'), ('b', 'bm25')]
    """
    rng = random.Random(seed)
    schedule: list[tuple[str, str]] = []
    turn = 0
    for _ in range(repeats):
        order = list(query_ids)
        rng.shuffle(order)
        for qid in order:
            start = turn % len(modes)
            schedule.extend((qid, modes[(start + i) % len(modes)]) for i in range(len(modes)))
            turn += 1
    return schedule


def time_queries(
    client: OpenSearch,
    index: str,
    queries: Mapping[str, str],
    bodies: Mapping[str, Callable[[str], dict[str, Any]]],
    *,
    repeats: int = 3,
    warmup: int = 1,
    seed: int = 0,
) -> dict[str, dict[str, list[float]]]:
    """Client wall time and server `took` (ms) of every query under every mode.

    `bodies` maps a mode to the function that builds its request body from the query text; building
    is timed with the request, since a NAIL query must be tokenized by the client. `warmup` passes run
    first and are not recorded. Returns `{mode: {"client_ms": [...], "took_ms": [...]}}`.
    """
    from nail_os.engines import engine_of

    engine = engine_of(client)
    modes = list(bodies)
    params = {"request_cache": "false"}
    samples: dict[str, dict[str, list[float]]] = {m: {"client_ms": [], "took_ms": []} for m in modes}
    for _ in range(warmup):
        for qid, mode in interleaved_schedule(list(queries), modes, repeats=1, seed=seed + 1):
            engine.search(client, index, bodies[mode](queries[qid]), params)
    for qid, mode in interleaved_schedule(list(queries), modes, repeats=repeats, seed=seed):
        started = time.perf_counter()
        response = engine.search(client, index, bodies[mode](queries[qid]), params)
        elapsed = (time.perf_counter() - started) * 1000.0
        samples[mode]["client_ms"].append(elapsed)
        samples[mode]["took_ms"].append(float(response["took"]))
    return samples


def summarize_latency(samples: Mapping[str, Mapping[str, list[float]]], baseline: str = "bm25") -> dict[str, Any]:
    """Percentiles per mode and clock, plus ratios to `baseline` when it was timed."""
    stats = {mode: {clock: percentiles(values) for clock, values in clocks.items()} for mode, clocks in
             samples.items()}
    out: dict[str, Any] = {"modes": stats}
    if baseline in stats:
        out["ratios"] = latency_ratios(stats, baseline)
    return out


# -- index size ------------------------------------------------------------------------------------------------
def force_merge(client: OpenSearch, index: str) -> None:
    """Merge `index` to one segment, so that its size no longer depends on how bulk requests fell."""
    client.indices.forcemerge(index=index, max_num_segments=1, request_timeout=MERGE_TIMEOUT_S)
    client.indices.refresh(index=index)
    client.indices.flush(index=index)


def store_size(client: OpenSearch, index: str) -> dict[str, int | float]:
    """Primary store bytes, document count, segment count and bytes per document of `index`."""
    stats = client.indices.stats(index=index, metric="docs,store,segments")["_all"]["primaries"]
    docs = int(stats["docs"]["count"])
    size = int(stats["store"]["size_in_bytes"])
    return {"bytes": size, "docs": docs, "segments": int(stats["segments"]["count"]),
            "bytes_per_doc": size / docs if docs else 0.0}


def size_breakdown(bm25_only: Mapping[str, float], full: Mapping[str, float]) -> dict[str, Any]:
    """Sizes of the BM25-only and the full index, and what the NAIL field adds (their difference).

    OpenSearch has no per-field disk usage API, so the NAIL field's share is measured as the difference
    between two indices of the same documents, one without it, both merged to one segment.

    >>> size_breakdown({"bytes": 100, "docs": 10}, {"bytes": 250, "docs": 10})["nail_field"]
    {'bytes': 150, 'bytes_per_doc': 15.0, 'ratio_to_bm25_only': 1.5}
    """
    extra = int(full["bytes"]) - int(bm25_only["bytes"])
    docs = int(full["docs"]) or 1
    return {
        "bm25_only": dict(bm25_only),
        "full": dict(full),
        "nail_field": {"bytes": extra, "bytes_per_doc": extra / docs,
                       "ratio_to_bm25_only": ratio(extra, float(bm25_only["bytes"]))},
        "full_to_bm25_only": ratio(float(full["bytes"]), float(bm25_only["bytes"])),
    }


def posting_stats(features: Mapping[str, Mapping[str, float]]) -> dict[str, float | int]:
    """Non-zero features (postings in the NAIL field) per document: mean, median, max, total."""
    counts = np.asarray([len(f) for f in features.values()], dtype=np.float64)
    if counts.size == 0:
        return {"docs": 0, "mean": 0.0, "median": 0.0, "max": 0, "total": 0}
    return {"docs": int(counts.size), "mean": float(counts.mean()), "median": float(np.median(counts)),
            "max": int(counts.max()), "total": int(counts.sum())}


def query_token_stats(token_counts: Sequence[tuple[int, int]]) -> dict[str, float]:
    """Mean tokens per query (with repeats) and mean distinct tokens (the NAIL clauses sent), from
    `(tokens, distinct tokens)` pairs, one per query."""
    if not token_counts:
        return {"queries": 0, "tokens_mean": 0.0, "distinct_tokens_mean": 0.0}
    arr = np.asarray(token_counts, dtype=np.float64)
    return {"queries": len(token_counts), "tokens_mean": float(arr[:, 0].mean()),
            "distinct_tokens_mean": float(arr[:, 1].mean())}
