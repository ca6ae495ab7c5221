"""Raw-sum hybrid against per-query min-max fusion, from the runs `nail-os eval` wrote (issue 15, point 5).

    python eval/fusion.py eval/results eval/results/zs-pool eval/results/nail-minilm-index-idf

For each results folder and each collection with `runs/{bm25,nail,hybrid}.trec.gz` (1,000 hits a query, through
OpenSearch with the kit's defaults: english-analyzer BM25, IDF of the index as query weights), the hybrid the
kit sends (`BM25 + 1 x NAIL`, one request) is scored next to the fusion that OpenSearch's normalization
processor would compute from the same two result lists: each list min-max normalised per query over its top
`depth` hits, then `(1 - w) x BM25 + w x NAIL` (a document missing from one list gets 0 there). A fusion gain
would justify a normalising search processor in the plugin; none means the raw sum stays.
"""

from __future__ import annotations

import argparse
import gzip
import json
from collections import defaultdict
from pathlib import Path

import ir_measures
from bench_common import DATA, machine, write_results
from ir_measures import nDCG

from nail_os.corpus import read_qrels

Run = dict[str, dict[str, float]]
WEIGHTS = (0.3, 0.5, 0.7)
DEPTHS = (100, 1000)


def read_run(path: Path) -> Run:
    run: Run = defaultdict(dict)
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            qid, _, doc, _, score, _ = line.split()
            run[qid][doc] = float(score)
    return run


def min_max(run: Run, depth: int) -> Run:
    out: Run = {}
    for qid, docs in run.items():
        top = sorted(docs.items(), key=lambda kv: -kv[1])[:depth]
        high, low = top[0][1], top[-1][1]
        out[qid] = {d: (s - low) / ((high - low) or 1.0) for d, s in top}
    return out


def max_norm(run: Run, depth: int) -> Run:
    """Each score over the query's top score: min-max with the lower bound fixed at 0, which a query can compute
    exactly across shards from two top-1 searches (one boost per sub-query, no second pass over the hits)."""
    out: Run = {}
    for qid, docs in run.items():
        top = sorted(docs.items(), key=lambda kv: -kv[1])[:depth]
        out[qid] = {d: s / (top[0][1] or 1.0) for d, s in top}
    return out


def fuse(bm25: Run, nail: Run, weight: float, depth: int, normalise=min_max) -> Run:
    a, b = normalise(bm25, depth), normalise(nail, depth)
    return {q: {d: (1 - weight) * a.get(q, {}).get(d, 0.0) + weight * b.get(q, {}).get(d, 0.0)
                for d in a.get(q, {}).keys() | b.get(q, {}).keys()} for q in a.keys() | b.keys()}


def ndcg10(run: Run, qrels: list[ir_measures.Qrel]) -> float:
    scored = [ir_measures.ScoredDoc(q, d, s) for q, docs in run.items() for d, s in docs.items()]
    return float(ir_measures.calc_aggregate([nDCG @ 10], qrels, scored)[nDCG @ 10])


def test_qrels(collection: str) -> list[ir_measures.Qrel]:
    """The test qrels of `collection` (`nail_os.corpus.read_qrels`) as ir-measures records."""
    return [ir_measures.Qrel(q, d, r) for q, docs in read_qrels(DATA / collection).items() for d, r in docs.items()]


def label(folder: Path) -> str:
    """A results folder's name; eval/results itself (eval/run_all's runs) is named by the model that made them."""
    if folder.resolve().name != "results":
        return folder.name
    first = next(folder.glob("*/results.json"))
    return Path(json.loads(first.read_text(encoding="utf-8"))["model"]).name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", nargs="+", type=Path, help="`nail-os eval` results folders with runs/")
    args = parser.parse_args()
    rows = []
    for folder in args.folders:
        for runs in sorted(folder.glob("*/runs")):
            collection = runs.parent.name
            qrels = test_qrels(collection)
            bm25, nail = read_run(runs / "bm25.trec.gz"), read_run(runs / "nail.trec.gz")
            row = {"model": label(folder), "collection": collection, "bm25": ndcg10(bm25, qrels),
                   "nail": ndcg10(nail, qrels), "hybrid_raw_w1": ndcg10(read_run(runs / "hybrid.trec.gz"), qrels)}
            for depth in DEPTHS:
                for w in WEIGHTS:
                    row[f"minmax{depth}_w{w}"] = ndcg10(fuse(bm25, nail, w, depth), qrels)
            for w in WEIGHTS:
                row[f"maxnorm_w{w}"] = ndcg10(fuse(bm25, nail, w, max(DEPTHS), max_norm), qrels)
            rows.append(row)
            print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}), flush=True)
    columns = [k for k in rows[0] if k not in ("model", "collection")]
    out = ["# Hybrid: raw sum vs per-query min-max fusion (nDCG@10, test qrels, through OpenSearch)", "",
           "`hybrid_raw_w1` is what the kit sends (BM25 + NAIL in one bool); `minmaxD_wW` fuses the BM25 and NAIL "
           "runs min-max normalised over their top D hits, W the NAIL weight; `maxnorm_wW` divides each run by its "
           "top score (min-max with lower bound 0).", "",
           "| model | collection | " + " | ".join(columns) + " |", "|---|---|" + "---|" * len(columns)]
    for r in rows:
        out.append(f"| {r['model']} | {r['collection']} | " + " | ".join(f"{r[c]:.4f}" for c in columns) + " |")
    for model in dict.fromkeys(r["model"] for r in rows):
        mine = [r for r in rows if r["model"] == model]
        out.append(f"| {model} | **mean of {len(mine)}** | "
                   + " | ".join(f"{sum(r[c] for r in mine) / len(mine):.4f}" for c in columns) + " |")
    write_results("fusion", {"rows": rows, "machine": machine()}, "\n".join(out))
    print("\n".join(out))


if __name__ == "__main__":
    main()
