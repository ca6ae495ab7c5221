"""The normalized hybrid (the plugin's `nail_hybrid`, "max") against the raw sum, through the node, per collection.

    nail-os server start --port 9260 --heap 2g --data-dir /tmp/hybrid-node
    NAIL_OS_DATA=/work/shared/data python eval/bench_hybrid.py --url http://127.0.0.1:9260

For each collection: the shipped model's pre-encoded features (`nail-os encode` JSONL, --features-dir) indexed as
`nail-os eval` indexes them (one shard, `nail_tokens` statistics), every test query run as BM25, NAIL, the raw sum
BM25 + 1 x NAIL (what `--mode hybrid` sends) and `nail_hybrid` with normalization "max" at (BM25, NAIL) weights
(0.5, 0.5), (0.7, 0.3), (0.3, 0.7); nDCG@10 on the test qrels (ir-measures). NAIL is the plugin's server-side
`nail` query (`--server-side`) in every mode. Then the raw sum and max (0.5, 0.5) are timed interleaved on the
same node (size 10, request cache off): server `took` and client wall time, p50 and p99. The offline estimate
of the same fusion from stored runs (`eval/fusion.py`, bench_fusion.json's "maxnorm" columns) is shown beside
where it has the collection.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench_common import CACHE, DATA, DEFAULT_URL, RESULTS, client, machine, write_results

from nail_os.evaluation.efficiency import summarize_latency, time_queries
from nail_os.evaluation.evaluate import load_dataset, run_queries
from nail_os.evaluation.index import prepare_index
from nail_os.evaluation.metrics import score_run
from nail_os.queries import QueryOptions, build_query

COLLECTIONS = ("scifact", "nfcorpus", "cacm", "cranfield", "medline")
MODEL = "nail-minilm"
# (BM25, NAIL) weights of the normalized hybrid; the offline estimate names a pair by its NAIL weight.
WEIGHTS = ((0.5, 0.5), (0.7, 0.3), (0.3, 0.7))
DEPTH = 100  # nDCG@10 reads the top 10; 100 hits keep the runs cheap
TIMED = ("raw_w1", "max_0.5_0.5")  # the default hybrid and its normalized counterpart at equal weights
PASSES = 3  # timed passes over the test queries per mode, after one warm-up pass
# The offline runs of the same model (index IDF query weights): eval/fusion.py over eval/run_all's runs in
# eval/results/ (`python eval/fusion.py eval/results ...`).
OFFLINE_MODEL = "nail-minilm"


def modes() -> dict[str, QueryOptions]:
    """Each measured mode's options, NAIL always the plugin's server-side `nail` query."""
    base = QueryOptions(size=DEPTH, server_side=True)
    out = {"bm25": replace(base, mode="bm25"), "nail": replace(base, mode="nail"),
           "raw_w1": replace(base, mode="hybrid")}
    for bm25, nail in WEIGHTS:
        out[f"max_{bm25:g}_{nail:g}"] = replace(base, mode="hybrid", hybrid_normalization="max", bm25_weight=bm25,
                                                nail_weight=nail)
    return out


def offline_estimate(collection: str) -> dict[str, float] | None:
    """bench_fusion.json's row for the shipped model on `collection`, keyed like our modes, or None."""
    path = RESULTS / "bench_fusion.json"
    rows = json.loads(path.read_text())["rows"] if path.is_file() else []
    row = next((r for r in rows if r["model"] == OFFLINE_MODEL and r["collection"] == collection), None)
    if row is None:
        return None
    out = {"bm25": row["bm25"], "nail": row["nail"], "raw_w1": row["hybrid_raw_w1"]}
    out.update({f"max_{bm25:g}_{nail:g}": row[f"maxnorm_w{nail:g}"] for bm25, nail in WEIGHTS})
    return out


def body_builder(options: QueryOptions) -> Callable[[str], dict[str, Any]]:
    return lambda text: build_query(text, None, options)


def measure(os_client: Any, collection: str, features: Path, passes: int) -> dict[str, Any]:
    source = str(DATA / collection)
    index = f"eval-{collection}-{MODEL}"
    prepared = prepare_index(os_client, source, index, model=MODEL, features=features, show_progress=False)
    dataset = load_dataset(source, "test")
    quality = {}
    for name, options in modes().items():
        run, _ = run_queries(os_client, index, dataset.queries, None, options)
        quality[name] = score_run(run, dataset.qrels, ["nDCG@10"])["nDCG@10"]
    bodies = {name: body_builder(replace(modes()[name], size=10)) for name in TIMED}
    samples = time_queries(os_client, index, dataset.queries, bodies, repeats=passes)
    latency = summarize_latency(samples, baseline="raw_w1")
    return {"documents": len(prepared.features), "queries": len(dataset.queries), "index": index,
            "nDCG@10": quality, "offline": offline_estimate(collection), "latency": latency}


def table(results: dict[str, Any]) -> str:
    names = list(modes())
    lines = ["| collection | docs | queries | " + " | ".join(names) + " | max 0.5 − raw |",
             "|---|---|---|" + "---|" * (len(names) + 1)]
    for collection, r in results.items():
        if "skipped" in r:
            lines.append(f"| {collection} | skipped: {r['skipped']} |" + " |" * (len(names) + 2))
            continue
        q = r["nDCG@10"]
        lines.append(f"| {collection} | {r['documents']} | {r['queries']} | "
                     + " | ".join(f"{q[n]:.4f}" for n in names) + f" | {q['max_0.5_0.5'] - q['raw_w1']:+.4f} |")
        if r["offline"]:
            o = r["offline"]
            lines.append(f"| {collection} (offline estimate) | | | " + " | ".join(f"{o[n]:.4f}" for n in names)
                         + f" | {o['max_0.5_0.5'] - o['raw_w1']:+.4f} |")
    measured = [r for r in results.values() if "skipped" not in r]
    if measured:
        mean = {n: sum(r["nDCG@10"][n] for r in measured) / len(measured) for n in names}
        lines.append(f"| **mean of {len(measured)}** | | | " + " | ".join(f"{mean[n]:.4f}" for n in names)
                     + f" | {mean['max_0.5_0.5'] - mean['raw_w1']:+.4f} |")
    lines += ["", "Latency, size 10, interleaved (ms):", "",
              "| collection | raw took p50 | max took p50 | raw client p50 | max client p50 | max client p99 |",
              "|---|---|---|---|---|---|"]
    for collection, r in measured_items(results):
        m = r["latency"]["modes"]
        lines.append(f"| {collection} | {m['raw_w1']['took_ms']['p50']:.1f} | {m['max_0.5_0.5']['took_ms']['p50']:.1f}"
                     f" | {m['raw_w1']['client_ms']['p50']:.1f} | {m['max_0.5_0.5']['client_ms']['p50']:.1f}"
                     f" | {m['max_0.5_0.5']['client_ms']['p99']:.1f} |")
    return "\n".join(lines)


def measured_items(results: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(c, r) for c, r in results.items() if "skipped" not in r]


def figure(results: dict[str, Any]) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    items = measured_items(results)
    names = [n for n in modes() if n not in ("bm25", "nail")]
    fig, (ax, lat) = plt.subplots(1, 2, figsize=(12, 4))
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        gains = [r["nDCG@10"][name] - r["nDCG@10"]["bm25"] for _, r in items]
        ax.bar([j + i * width for j in range(len(items))], gains, width, label=name)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(items))], [c for c, _ in items])
    ax.axhline(0, color="black", linewidth=0.5)
    ax.set_ylabel("nDCG@10 − BM25")
    ax.set_title("Hybrids against BM25 (test qrels)")
    ax.legend(fontsize=8)
    for i, name in enumerate(("raw_w1", "max_0.5_0.5")):
        lat.bar([j + i * 0.4 for j in range(len(items))],
                [r["latency"]["modes"][name]["client_ms"]["p50"] for _, r in items], 0.4, label=name)
    lat.set_xticks([j + 0.2 for j in range(len(items))], [c for c, _ in items])
    lat.set_ylabel("client p50 (ms)")
    lat.set_title("Latency, size 10")
    lat.legend(fontsize=8)
    return fig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=DEFAULT_URL)
    parser.add_argument("--collections", default=",".join(COLLECTIONS))
    parser.add_argument("--features-dir", type=Path, default=CACHE / "scale",
                        help="Folder of <collection>.jsonl: the shipped model's `nail-os encode` output.")
    parser.add_argument("--passes", type=int, default=PASSES)
    args = parser.parse_args()

    os_client = client(args.url)
    plugins = {p["component"] for p in os_client.cat.plugins(format="json")}
    if "nail" not in plugins:
        raise SystemExit(f"{args.url} runs no nail plugin; start it with `nail-os server start`")
    results: dict[str, Any] = {}
    for collection in args.collections.split(","):
        features = args.features_dir / f"{collection}.jsonl"
        if not features.is_file():
            results[collection] = {"skipped": f"no pre-encoded features at {features} (encode with `nail-os "
                                              f"encode {DATA / collection} -o {features}`)"}
            continue
        print(f"{collection} ...", flush=True)
        results[collection] = measure(os_client, collection, features, args.passes)
    markdown = ("# Normalized hybrid (`nail_hybrid`, max) vs raw sum: nDCG@10 on test qrels, through the node\n\n"
                "Model: the shipped nail-minilm (index IDF query weights, NAIL as the plugin's server-side `nail` "
                "query). `raw_w1`: BM25 + 1 x NAIL, what `--mode hybrid` sends; `max_B_N`: `nail_hybrid` with "
                "B x BM25/top BM25 + N x NAIL/top NAIL, tops over the index. Offline estimate: eval/fusion.py "
                f"over stored runs of {OFFLINE_MODEL} (bench_fusion.md, maxnorm_wN).\n\n" + table(results))
    write_results("hybrid", {"results": results, "machine": machine(os_client)}, markdown,
                  figure(results) if measured_items(results) else None)
    print(markdown)


if __name__ == "__main__":
    main()
