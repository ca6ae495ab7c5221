"""Length-aware top-k: how many tokens a document keeps against what it loses, from features already encoded.

`nail-os encode` keeps each document's top 256 tokens. A document of n tokens under the length-aware rule keeps the
top max(min_top_k, n × ratio) of them (never more than 256): the same cut `DocumentEncoder(top_k_per_token=...)`
makes. Each variant is scored in process (exact sparse dot products, IDF over the collection itself as an index of
it gives, ir-measures nDCG@10; fused = per-query min-max fusion with in-process BM25, w=0.5), next to its stored
postings per document. Writes JSON + markdown + PNG to eval/results/length_topk.*.

    python eval/bench_topk.py runs/enc/zs-pool --model runs/zs-pool cacm cranfield medline
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from nail_os.model.encode import length_aware_top_k
from nail_os.registry import resolve_model_dir
from nail_os.tokens import Tokenizer
from nail_os.train.bm25 import BM25Index
from nail_os.train.data import idf_weights, load_beir, token_document_frequency
from nail_os.train.evaluate import DEPTH, encode_queries, fuse, measure, to_run, top_k_rows

RATIOS: list[float | None] = [None, 4.0, 2.0, 1.0, 0.5]
MIN_TOP_K = 32


def keep(n: int, ratio: float | None, top_k: int = 256) -> int:
    return length_aware_top_k(n, top_k, ratio, MIN_TOP_K)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("features_dir", type=Path)
    ap.add_argument("datasets", nargs="+")
    ap.add_argument("--model", default="nail-minilm")
    ap.add_argument("--data", type=Path, default=Path(os.environ.get("NAIL_OS_DATA", "../shared/data")))
    ap.add_argument("--split", default="test", help="qrels split: test, or a validation split (train, dev)")
    ap.add_argument("--out", type=Path, default=Path("eval/results/length_topk"))
    args = ap.parse_args()
    tok = Tokenizer.from_model_dir(resolve_model_dir(args.model))
    special = sorted(tok.special_ids)
    table: dict[str, dict[str, dict[str, float]]] = {}
    for name in args.datasets:
        ds = load_beir(args.data / name)
        feats = {}
        with (args.features_dir / f"{name}.jsonl").open(encoding="utf-8") as fh:
            for line in fh:
                rec = json.loads(line)
                feats[str(rec["id"])] = sorted(rec["features"].items(), key=lambda kv: -kv[1])
        lengths = [len(e.ids) for e in tok.hf.encode_batch(ds.doc_texts, add_special_tokens=False)]
        qrels = ds.qrels[args.split]
        qids = [q for q in qrels if q in ds.queries]
        texts = [ds.queries[q] for q in qids]
        idx, val = BM25Index.build(ds.doc_texts).search(texts, DEPTH)
        bm25 = to_run(qids, ds.doc_ids, idx, val)
        weights = idf_weights(token_document_frequency(tok.hf, ds.doc_texts, tok.vocab_size), len(ds.doc_texts),
                              special)
        queries = encode_queries(tok.hf.to_str(), texts, weights, special)
        table[name] = {"bm25": {**measure(qrels, bm25), "postings": 0.0}}
        for ratio in RATIOS:
            rows, cols, vals = [], [], []
            for r, (doc_id, n) in enumerate(zip(ds.doc_ids, lengths, strict=True)):
                for token, w in feats.get(doc_id, [])[: keep(n, ratio)]:
                    rows.append(r)
                    cols.append(tok.token_to_id(token))
                    vals.append(w)
            docs = sp.csr_matrix((vals, (rows, cols)), shape=(len(ds.doc_ids), tok.vocab_size), dtype=np.float32)
            i, v = top_k_rows((queries @ docs.T).toarray(), DEPTH)
            nail = to_run(qids, ds.doc_ids, i, v)
            label = "top-256" if ratio is None else f"n×{ratio:g} (≥{MIN_TOP_K})"
            table[name][f"NAIL {label}"] = {**measure(qrels, nail), "postings": len(vals) / len(ds.doc_ids)}
            table[name][f"fused {label}"] = {**measure(qrels, fuse(bm25, nail, 0.5)),
                                              "postings": len(vals) / len(ds.doc_ids)}
        print(name, json.dumps({k: round(v["nDCG@10"], 4) for k, v in table[name].items()}))
    systems = list(next(iter(table.values())))
    mean = {s: {m: float(np.mean([table[d][s][m] for d in table])) for m in ("nDCG@10", "postings")}
            for s in systems}
    command = "python eval/bench_topk.py " + " ".join(
        [str(args.features_dir), *args.datasets, "--model", args.model, "--split", args.split, "--out", str(args.out)])
    result = {"model": str(resolve_model_dir(args.model)), "datasets": args.datasets, "split": args.split,
              "min_top_k": MIN_TOP_K,
              "per_dataset": table, "mean": mean, "command": command,
              "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count()}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    head = "| system | " + " | ".join(args.datasets) + " | mean nDCG@10 | postings/doc (mean) |"
    lines = [f"# Length-aware top-k ({Path(result['model']).name}, {args.split} qrels)", "", f"`{command}`", "", head,
             "|---" * (len(args.datasets) + 3) + "|"]
    for s in systems:
        cells = [f"{table[d][s]['nDCG@10']:.4f}" for d in args.datasets]
        lines.append(f"| {s} | " + " | ".join(cells) + f" | {mean[s]['nDCG@10']:.4f} | {mean[s]['postings']:.0f} |")
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for kind in ("NAIL", "fused"):
        pts = [(mean[s]["postings"], mean[s]["nDCG@10"]) for s in systems if s.startswith(kind)]
        ax.plot(*zip(*sorted(pts), strict=True), marker="o", label=kind)
    ax.axhline(mean["bm25"]["nDCG@10"], color="grey", linestyle="--", label="BM25")
    ax.set_xlabel("NAIL postings per document")
    ax.set_ylabel("mean nDCG@10")
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.out.with_suffix(".png"), dpi=100)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
