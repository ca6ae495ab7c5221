"""Query latency of NAIL and hybrid as ratios to BM25: same node, same queries, same run, modes interleaved.

    python eval/bench_latency.py --corpus scifact
    python eval/bench_latency.py --corpus debian-descriptions
    python eval/bench_latency.py --corpus synthetic --docs 1000000 --profile-corpus scifact

Besides the three modes, the levers are timed in the same interleaved run (each one is another "mode"):
- `nail_sat`: `saturation` instead of `linear` (the engine's default function);
- `nail_q8` / `hybrid_q8`: only the 8 rarest query tokens (highest IDF) are sent. splade-tiny has no query
  weights (every boost is 1), so rarity stands in for weight; the tokens dropped are the ones whose
  posting lists are longest;
- `--top-k 64`: a second index whose documents keep their 64 largest weights (`nail_k64`);
- `--shards 2`: a second index of 2 shards (`*_s2`);
- `--request-cache`: a separate run with the shard request cache on.
`--scale` only gathers the synthetic results already written (bench_latency_synthetic-*.json, one per corpus
size) into bench_latency_scale.{json,md,png}: NAIL and hybrid p50 / BM25 against the corpus size.
The index is force-merged to one segment first, so that latencies do not depend on how bulk requests fell.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from bench_common import (
    CACHE,
    DATA,
    build_index,
    client,
    encoded_records,
    machine,
    write_results,
)

from nail_os.corpus import read_queries
from nail_os.evaluation.efficiency import force_merge, interleaved_schedule, store_size, summarize_latency, time_queries
from nail_os.queries import QueryOptions, build_query
from nail_os.registry import resolve_model_dir
from nail_os.tokens import QueryToken, Tokenizer

# Queries timed per corpus: 300 distinct queries x 3 passes = 900 samples per mode, so p99 rests on the 9
# slowest of each mode rather than on one.
N_QUERIES = 300
PASSES = 3
PRUNED_TOKENS = 8  # query tokens kept by the pruning lever: scifact queries have ~20 distinct tokens


def document_frequencies(index_docs: int, df_fraction: dict[int, float]) -> Callable[[QueryToken], float]:
    """IDF of a token from fractions of documents holding it (unseen tokens are the rarest)."""

    def idf(token: QueryToken) -> float:
        return math.log(1.0 + 1.0 / max(df_fraction.get(token.token_id, 0.0), 1.0 / max(index_docs, 1)))

    return idf


def pruned_body(
    text: str, tokenizer: Tokenizer, mode: str, keep: int, idf: Callable[[QueryToken], float], index: str | None = None
) -> dict[str, Any]:
    """The body of `mode` over only the `keep` rarest query tokens (ties broken by boost, then id)."""
    tokens = sorted(tokenizer.tokenize_query(text), key=lambda t: (-idf(t), -t.boost, t.token_id))[:keep]

    class _Pruned(Tokenizer):  # the same tokenizer, answering with the pruned token list
        def tokenize_query(self, _text: str) -> list[QueryToken]:
            return tokens

    shim = _Pruned.__new__(_Pruned)
    shim.__dict__.update(tokenizer.__dict__)
    return build_query(text, shim, QueryOptions(mode=mode))  # type: ignore[arg-type]


def saturation_body(text: str, tokenizer: Tokenizer) -> dict[str, Any]:
    body = build_query(text, tokenizer, QueryOptions(mode="nail"))
    for clause in body["query"].get("bool", {}).get("should", []):
        clause["rank_feature"].pop("linear", None)  # no function given: the engine's default saturation
    return body


def time_with_cache(os_client, index: str, queries: dict[str, str], tokenizer: Tokenizer) -> dict[str, Any]:
    """BM25 and NAIL with the request cache on vs off, interleaved (cache on: each query's second run)."""
    modes = [f"{m}_{c}" for m in ("bm25", "nail") for c in ("cache_off", "cache_on")]
    samples: dict[str, dict[str, list[float]]] = {m: {"client_ms": [], "took_ms": []} for m in modes}
    for qid, mode in interleaved_schedule(list(queries), modes, repeats=PASSES, seed=7):
        kind, cache = mode.split("_", 1)
        body = build_query(queries[qid], tokenizer, QueryOptions(mode=kind))  # type: ignore[arg-type]
        params = {"request_cache": "true" if cache == "cache_on" else "false"}
        started = time.perf_counter()
        response = os_client.search(index=index, body=body, params=params)
        samples[mode]["client_ms"].append((time.perf_counter() - started) * 1000.0)
        samples[mode]["took_ms"].append(float(response["took"]))
    return summarize_latency(samples, baseline="bm25_cache_off")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", help="scifact, debian-descriptions, ... or synthetic")
    parser.add_argument("--docs", type=int, default=1_000_000, help="synthetic corpus size")
    parser.add_argument("--profile-corpus", default="scifact", help="encoded corpus the synthetic one imitates")
    parser.add_argument("--queries-from", default=None, help="query corpus (default: the corpus, or the profile)")
    parser.add_argument("--top-k", type=int, default=None, help="also time an index of this top-k per document")
    parser.add_argument("--shards", type=int, default=None, help="also time an index of this many shards")
    parser.add_argument("--request-cache", action="store_true", help="also time with the request cache on")
    parser.add_argument("--reuse", action="store_true", help="keep an existing index of the right size")
    parser.add_argument("--workers", type=int, default=2, help="parallel ingest processes for synthetic builds")
    parser.add_argument(
        "--index",
        default=None,
        help="index name (default bench-<corpus>), e.g. one synthetic index per size: bench-synthetic-100k",
    )
    parser.add_argument("--scale", action="store_true", help="only summarize the synthetic sizes timed so far")
    args = parser.parse_args()
    if args.scale:
        write_scale()
        return
    if not args.corpus:
        parser.error("--corpus is required (or --scale)")

    tokenizer = Tokenizer.from_model_dir(resolve_model_dir("splade-tiny"))
    os_client = client()
    name = args.corpus
    index = args.index or f"bench-{name}"
    env = machine(os_client)
    builds: dict[str, Any] = {}

    if args.corpus == "synthetic":
        from bench_synthetic import build_synthetic, load_profile

        profile = load_profile(args.profile_corpus, tokenizer)
        df_fraction = {int(t): float(d) for t, d in zip(profile.token_ids, profile.df, strict=True)}
        n_docs = args.docs

        def make(idx: str, **kw: Any) -> Any:
            return build_synthetic(os_client, idx, profile, tokenizer, n_docs, workers=args.workers, **kw)

        query_corpus = args.queries_from or args.profile_corpus
    else:
        records = encoded_records(args.corpus)
        counts = Counter(tokenizer.token_to_id(t) for r in records for t in r.features or {})
        df_fraction = {int(t): c / len(records) for t, c in counts.items() if t is not None}
        n_docs = len(records)
        make = lambda idx, **kw: build_index(os_client, idx, records, tokenizer, total=n_docs, **kw)  # noqa: E731
        query_corpus = args.queries_from or args.corpus

    def ensure(idx: str, **kw: Any) -> None:
        nonlocal n_docs
        if args.reuse and os_client.indices.exists(index=idx):
            # A synthetic build stopped early (see performance.md) is timed at the size it reached.
            n_docs = os_client.count(index=idx)["count"]
            builds[idx] = {"reused": True}
        else:
            started = time.monotonic()
            report = make(idx, **kw)
            built = time.monotonic() - started
            merge_started = time.monotonic()
            force_merge(os_client, idx)
            builds[idx] = {
                "ingest_s": round(built, 1),
                "docs_per_s": round(n_docs / built, 1),
                "merge_s": round(time.monotonic() - merge_started, 1),
                "rejected": getattr(report, "rejected", 0),
                **kw,
            }
        builds[idx]["size"] = store_size(os_client, idx)

    ensure(index)
    if args.corpus == "synthetic":
        name = f"synthetic-{n_docs // 1000}k"
    extra: dict[str, str] = {}
    if args.top_k:
        extra["k"] = f"{index}-k{args.top_k}"
        ensure(extra["k"], top_k=args.top_k)
    if args.shards:
        extra["s"] = f"{index}-s{args.shards}"
        ensure(extra["s"], shards=args.shards)

    all_queries = read_queries(DATA / query_corpus / "queries.jsonl")
    qids = sorted(all_queries)[:: max(1, len(all_queries) // N_QUERIES)][:N_QUERIES]
    queries = {q: all_queries[q] for q in qids}
    idf = document_frequencies(n_docs, df_fraction)
    bodies: dict[str, Callable[[str], dict[str, Any]]] = {
        "bm25": lambda t: build_query(t, tokenizer, QueryOptions(mode="bm25")),
        "nail": lambda t: build_query(t, tokenizer, QueryOptions(mode="nail")),
        "hybrid": lambda t: build_query(t, tokenizer, QueryOptions(mode="hybrid")),
        "nail_sat": lambda t: saturation_body(t, tokenizer),
        f"nail_q{PRUNED_TOKENS}": lambda t: pruned_body(t, tokenizer, "nail", PRUNED_TOKENS, idf),
        f"hybrid_q{PRUNED_TOKENS}": lambda t: pruned_body(t, tokenizer, "hybrid", PRUNED_TOKENS, idf),
    }
    started = time.monotonic()
    main_run = summarize_latency(time_queries(os_client, index, queries, bodies, repeats=PASSES, warmup=1))
    result: dict[str, Any] = {
        "corpus": name,
        "docs": n_docs,
        "index": index,
        "queries": len(queries),
        "query_corpus": query_corpus,
        "passes": PASSES,
        "builds": builds,
        "latency": main_run,
        "timing_s": round(time.monotonic() - started, 1),
    }
    # Levers on other indices: each is timed against BM25 on its own index, in its own interleaved run.
    for idx in extra.values():
        modes = {"bm25": bodies["bm25"], "nail": bodies["nail"], "hybrid": bodies["hybrid"]}
        result[f"latency_{idx.rsplit('-', 1)[1]}"] = summarize_latency(
            time_queries(os_client, idx, queries, modes, repeats=PASSES, warmup=1)
        )
    if args.request_cache:
        result["latency_request_cache"] = time_with_cache(os_client, index, queries, tokenizer)
    tokens = [len(tokenizer.tokenize_query(t)) for t in queries.values()]
    result["query_tokens_mean"] = sum(tokens) / len(tokens)
    result["machine"] = env
    result["machine"]["loadavg_end"] = __import__("os").getloadavg()
    write_results(f"latency_{name}", result, render_markdown(result), render_figure(result))
    print(json.dumps({k: v for k, v in result.items() if k.startswith("latency")}, indent=1)[:4000])


def _row(mode: str, stats: dict[str, Any], ratios: dict[str, Any]) -> str:
    c, t = stats["client_ms"], stats["took_ms"]
    rc, rt = ratios["client_ms"], ratios["took_ms"]

    def r(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}x"

    return (
        f"| {mode} | {c['p50']:.1f} | {c['p99']:.1f} | {r(rc['p50'])} | {r(rc['p99'])} | {t['p50']:.1f} | "
        f"{t['p99']:.1f} | {r(rt['p50'])} |"
    )


def render_markdown(result: dict[str, Any]) -> str:
    head = (
        "| mode | client p50 ms | client p99 ms | p50 / BM25 | p99 / BM25 | took p50 ms | took p99 ms | "
        "took p50 / BM25 |\n|---|---|---|---|---|---|---|---|"
    )
    out = [
        f"# Query latency: {result['corpus']} ({result['docs']:,} docs)",
        "",
        f"{result['queries']} queries of {result['query_corpus']} (mean {result['query_tokens_mean']:.1f} "
        f"distinct query tokens) x {result['passes']} passes, interleaved, request cache off, one client, "
        f"index force-merged to one segment. Client time includes building the body (tokenizing).",
        "",
    ]
    for key in [k for k in result if k.startswith("latency")]:
        run = result[key]
        out += [f"## {key}", "", head]
        out += [_row(m, s, run["ratios"][m]) for m, s in run["modes"].items()]
        out.append("")
    out += ["## Indices", "", "| index | docs | bytes/doc | segments | build |", "|---|---|---|---|---|"]
    for idx, b in result["builds"].items():
        s = b["size"]
        build = (
            "reused" if b.get("reused") else f"{b['ingest_s']} s ({b['docs_per_s']:.0f} docs/s), merge {b['merge_s']} s"
        )
        out.append(f"| {idx} | {s['docs']:,} | {s['bytes_per_doc']:.0f} | {s['segments']} | {build} |")
    return "\n".join(out)


def render_figure(result: dict[str, Any]) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run = result["latency"]
    modes = list(run["modes"])
    fig, ax = plt.subplots(figsize=(8, 3.5))
    xs = range(len(modes))
    for offset, (pct, color) in enumerate((("p50", "tab:blue"), ("p99", "tab:orange"))):
        vals = [run["ratios"][m]["client_ms"][pct] or 0 for m in modes]
        ax.bar([x + offset * 0.4 for x in xs], vals, width=0.4, label=f"client {pct} / BM25", color=color)
    ax.axhline(1.1, ls="--", c="tab:green", lw=1, label="NAIL target 1.1x")
    ax.axhline(1.8, ls=":", c="tab:red", lw=1, label="hybrid target 1.8x")
    ax.set_xticks([x + 0.2 for x in xs], modes, rotation=20)
    ax.set_ylabel("latency / BM25")
    ax.set_title(f"{result['corpus']} ({result['docs']:,} docs): latency ratios, same node and queries")
    ax.legend(fontsize=7)
    return fig


def write_scale() -> None:
    """bench_latency_scale.*: the ratios of every synthetic size timed so far, smallest corpus first."""
    from bench_common import RESULTS

    rows = []
    for path in RESULTS.glob("bench_latency_synthetic-*.json"):
        result = json.loads(path.read_text(encoding="utf-8"))
        run = result["latency"]
        row = {
            "docs": result["docs"],
            "file": path.name,
            "when": result["machine"].get("when"),
            "loadavg_1": result["machine"]["loadavg_1_5_15"][0],
        }
        for mode in ("bm25", "nail", "hybrid"):
            row[f"{mode}_p50_ms"] = run["modes"][mode]["client_ms"]["p50"]
            row[f"{mode}_took_mean_ms"] = run["modes"][mode]["took_ms"]["mean"]
        for mode in ("nail", "hybrid"):
            for pct in ("p50", "p99"):
                row[f"{mode}_{pct}_ratio"] = run["ratios"][mode]["client_ms"][pct]
        rows.append(row)
    rows.sort(key=lambda r: r["docs"])
    out = [
        "# Query latency against corpus size (synthetic scifact-like corpora)",
        "",
        "Each size is its own run of `bench_latency.py --corpus synthetic` (its own index, force-merged; modes "
        "interleaved query by query), so each ratio is measured in one run; absolute ms depend on the load "
        "at the time (last column).",
        "",
        "| docs | BM25 p50 ms | NAIL p50 (ratio) | hybrid p50 (ratio) | NAIL p99 ratio | hybrid p99 ratio | "
        "took mean BM25 / NAIL / hybrid ms | load | file |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    out += [
        f"| {r['docs']:,} | {r['bm25_p50_ms']:.1f} | {r['nail_p50_ms']:.1f} ({r['nail_p50_ratio']:.2f}x) | "
        f"{r['hybrid_p50_ms']:.1f} ({r['hybrid_p50_ratio']:.2f}x) | {r['nail_p99_ratio']:.2f}x | "
        f"{r['hybrid_p99_ratio']:.2f}x | {r['bm25_took_mean_ms']:.0f} / {r['nail_took_mean_ms']:.0f} / "
        f"{r['hybrid_took_mean_ms']:.0f} | {r['loadavg_1']:.1f} | {r['file']} |"
        for r in rows
    ]

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.5))
    docs = [r["docs"] for r in rows]
    for mode, color in (("nail", "tab:blue"), ("hybrid", "tab:orange")):
        left.plot(docs, [r[f"{mode}_p50_ratio"] for r in rows], "o-", color=color, label=f"{mode} p50 / BM25")
        left.plot(
            docs, [r[f"{mode}_p99_ratio"] for r in rows], "s--", color=color, alpha=0.6, label=f"{mode} p99 / BM25"
        )
    left.axhline(1.1, ls="--", c="tab:green", lw=1, label="NAIL target 1.1x")
    left.axhline(1.8, ls=":", c="tab:red", lw=1, label="hybrid target 1.8x")
    left.set(xscale="log", xlabel="documents", ylabel="latency / BM25", title="ratios to BM25 (client time)")
    left.legend(fontsize=7)
    for mode in ("bm25", "nail", "hybrid"):
        right.plot(docs, [r[f"{mode}_p50_ms"] for r in rows], "o-", label=mode)
    right.set(xscale="log", yscale="log", xlabel="documents", ylabel="p50 ms", title="client p50")
    right.legend(fontsize=7)
    fig.tight_layout()
    write_results("latency_scale", {"rows": rows, "machine": machine()}, "\n".join(out), fig)
    print("\n".join(out))


if __name__ == "__main__":
    CACHE.mkdir(parents=True, exist_ok=True)
    main()
