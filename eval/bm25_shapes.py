"""Quality of the BM25 query shapes that bench_scale.py times, alone and in the hybrid (nDCG@10, test qrels).

    python eval/bm25_shapes.py --features ~/.cache/nail-os/bench/scale cacm cranfield medline nfcorpus

The kit's BM25 is `multi_match` best_fields with tie_breaker 0.5 over title and text (BEIR's baseline); at 300k
documents it is the slowest shape and makes the hybrid 2.9x the fastest BM25 (performance.md, section 0).
`combined_fields` (BM25F over title and text) and a `match` on the text field let Lucene skip documents; this
measures what switching would cost in quality, through OpenSearch, with the shipped model's features and the
index's IDF as query weights (the kit's defaults).
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from typing import Any

import ir_measures
from bench_common import CACHE, DATA, build_index, client, encoded_records, machine, write_results
from bench_scale import bm25_bodies, cut_length_aware
from fusion import test_qrels
from ir_measures import nDCG

from nail_os.corpus import read_queries
from nail_os.evaluation.evaluate import collection_kind
from nail_os.queries import QueryOptions, build_query
from nail_os.registry import resolve_model_dir
from nail_os.statistics import index_statistics
from nail_os.tokens import Tokenizer


def hybrid_on(shape: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """The kit's hybrid body with its BM25 clause replaced by `shape`'s query (for `match` on one field, which
    `QueryOptions.bm25_query` does not offer)."""
    should = body["query"].get("bool", {}).get("should", [])
    if should and "multi_match" in should[0]:
        should[0] = shape["query"]
    return body


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("collections", nargs="+")
    parser.add_argument("--features", type=Path, default=CACHE / "scale")
    args = parser.parse_args()
    tokenizer = Tokenizer.from_model_dir(resolve_model_dir("nail-minilm"))
    os_client = client()
    shapes = bm25_bodies()
    rows = []
    for name in args.collections:
        index = f"bench-shapes-{name}"
        records = cut_length_aware(encoded_records(name, path=args.features / f"{name}.jsonl"), tokenizer)
        build_index(os_client, index, records, tokenizer, show_progress=False)
        qrels = test_qrels(name)
        judged = {q.query_id for q in qrels}
        queries = {q: t for q, t in read_queries(DATA / name / "queries.jsonl").items() if q in judged}
        stats = index_statistics(os_client, index)
        runs: dict[str, list[ir_measures.ScoredDoc]] = {}
        for qid, text in queries.items():
            weights = stats.weights(tokenizer.query_token_ids(text))
            options = QueryOptions(mode="hybrid", size=100)
            bodies = {mode: {**make(text), "size": 100} for mode, make in shapes.items()}
            bodies["hybrid_multi"] = build_query(text, tokenizer, options, weights)
            bodies["hybrid_combined"] = build_query(text, tokenizer, replace(options, bm25_query="combined_fields"),
                                                    weights)
            bodies["hybrid_match"] = hybrid_on(shapes["bm25_match"](text), build_query(text, tokenizer, options,
                                                                                       weights))
            for mode, body in bodies.items():
                hits = os_client.search(index=index, body=body)["hits"]["hits"]
                runs.setdefault(mode, []).extend(ir_measures.ScoredDoc(qid, h["_id"], h["_score"]) for h in hits)
        row = {"collection": name, "kind": collection_kind(resolve_model_dir("nail-minilm"), name),
               "queries": len(queries)}
        row |= {mode: float(ir_measures.calc_aggregate([nDCG @ 10], qrels, run)[nDCG @ 10])
                for mode, run in runs.items()}
        rows.append(row)
        os_client.indices.delete(index=index)
        print(row, flush=True)
    modes = [k for k in rows[0] if k not in ("collection", "kind", "queries")]
    out = ["# BM25 query shapes: quality alone and in the hybrid (nDCG@10, test qrels, through OpenSearch)", "",
           "`bm25_multi` is the kit's BM25 (multi_match best_fields, tie_breaker 0.5, title + text); `hybrid_X` is the "
           "kit's hybrid (+ 1 x NAIL, index IDF) on shape X. Shipped model, length-aware features. Kind: how the "
           "shipped model saw the collection (its provenance.json); means are per kind.", "",
           "| collection | kind | queries | " + " | ".join(modes) + " |", "|---|---|---|" + "---|" * len(modes)]
    out += [f"| {r['collection']} | {r['kind']} | {r['queries']} | " + " | ".join(f"{r[m]:.4f}" for m in modes) + " |"
            for r in rows]
    for kind in dict.fromkeys(r["kind"] for r in rows):
        mine = [r for r in rows if r["kind"] == kind]
        out.append(f"| **mean of {len(mine)}** | {kind} | | "
                   + " | ".join(f"{sum(r[m] for r in mine) / len(mine):.4f}" for m in modes) + " |")
    write_results("bm25_shapes", {"rows": rows, "machine": machine(os_client)}, "\n".join(out))
    print("\n".join(out))


if __name__ == "__main__":
    main()
