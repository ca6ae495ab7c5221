"""Long documents: windowed encoding against truncation, on a collection made long on purpose.

None of our judged collections has long documents, so this builds one: each document of a BEIR collection is buried
at a random place among unrelated passages (Linux kernel documentation from debian-text), so that it sits anywhere
in a text of about `--tokens` tokens. Queries and judgements are the collection's own. Truncation reads the first
256 tokens only; windows read up to 8 × 256 with a 32-token overlap and merge the weights by max. Scored in process
(exact sparse dot products, ir-measures nDCG@10), with the query weights an index of these documents would give
(IDF over them) and BM25 over the same long texts. Writes JSON + markdown to eval/results/long_documents.*.

    python eval/bench_long.py ../shared/data/medline --model runs/zs-pool
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from nail_os.model import load_model
from nail_os.registry import resolve_model_dir
from nail_os.train.bm25 import BM25Index
from nail_os.train.data import idf_weights, load_beir, token_document_frequency
from nail_os.train.evaluate import DEPTH, encode_queries, fuse, measure, to_run, top_k_rows


def bury(texts: list[str], filler: list[str], tokens: int, rng: random.Random) -> list[str]:
    """Each text at a random place among filler passages, about `tokens` word pieces in all (1.3 per word)."""
    out = []
    for text in texts:
        words, before, after = len(text.split()), [], []
        budget = max(0, int(tokens / 1.3) - words)
        cut = rng.randint(0, budget)
        while sum(len(p.split()) for p in before) < cut:
            before.append(rng.choice(filler))
        while sum(len(p.split()) for p in after) < budget - cut:
            after.append(rng.choice(filler))
        out.append(" ".join([*before, text, *after]))
    return out


def features_matrix(features: list[dict[str, float]], tokenizer, vocab: int) -> sp.csr_matrix:
    rows, cols, vals = [], [], []
    for r, doc in enumerate(features):
        for token, w in doc.items():
            rows.append(r)
            cols.append(tokenizer.token_to_id(token))
            vals.append(w)
    return sp.csr_matrix((vals, (rows, cols)), shape=(len(features), vocab), dtype=np.float32)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("collection", type=Path)
    ap.add_argument("--model", default="nail-minilm")
    ap.add_argument("--filler", type=Path, default=Path("../shared/data/debian-text/linux-doc.jsonl.gz"))
    ap.add_argument("--tokens", type=int, default=1200)
    ap.add_argument("--split", default="test")
    ap.add_argument("--out", type=Path, default=Path("eval/results/long_documents"))
    args = ap.parse_args()
    rng = random.Random(0)
    ds = load_beir(args.collection)
    with gzip.open(args.filler, "rt", encoding="utf-8") as fh:
        filler = [json.loads(line)["text"] for line in fh]
    long_texts = bury(ds.doc_texts, filler, args.tokens, rng)
    qrels = ds.qrels[args.split]
    qids = [q for q in qrels if q in ds.queries]
    texts = [ds.queries[q] for q in qids]
    model_dir = resolve_model_dir(args.model)
    rows: dict[str, dict[str, float]] = {}
    bm25_idx, bm25_val = BM25Index.build(long_texts).search(texts, DEPTH)
    bm25 = to_run(qids, ds.doc_ids, bm25_idx, bm25_val)
    rows["bm25"] = measure(qrels, bm25)
    timings = {}
    for name, windows in (("truncated (1 window)", 1), ("windows (up to 8)", 8)):
        encoder = load_model(model_dir, device="cpu", max_windows=windows)
        tok = encoder.tokenizer
        started = time.monotonic()
        feats = encoder.encode_documents(long_texts, batch_size=32, show_progress=True)
        timings[name] = time.monotonic() - started
        vocab = tok.vocab_size
        docs = features_matrix(feats, tok, vocab)
        df = token_document_frequency(tok.hf, long_texts, vocab)
        weights = idf_weights(df, len(long_texts), sorted(tok.special_ids))
        queries = encode_queries(tok.hf.to_str(), texts, weights, sorted(tok.special_ids))
        idx, val = top_k_rows((queries @ docs.T).toarray(), DEPTH)
        nail = to_run(qids, ds.doc_ids, idx, val)
        rows[f"NAIL, {name}"] = measure(qrels, nail)
        rows[f"hybrid (min-max, 0.5), {name}"] = measure(qrels, fuse(bm25, nail, 0.5))
    result = {"collection": ds.name, "split": args.split, "model": str(model_dir), "tokens_per_document": args.tokens,
              "filler": str(args.filler), "queries": len(qids), "documents": len(long_texts), "nDCG@10": rows,
              "encode_seconds_cpu": timings, "command": "python eval/bench_long.py " + " ".join(
                  str(a) for a in [args.collection, "--model", args.model, "--tokens", args.tokens])}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    out_json = args.out.with_name(f"{args.out.name}_{ds.name}.json")
    out_json.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    lines = [f"# Long documents: {ds.name} buried in ~{args.tokens}-token texts", "",
             f"Model `{Path(model_dir).name}`; {len(qids)} queries, {len(long_texts)} documents; "
             f"`{result['command']}`.", "", "| system | nDCG@10 | R@100 |", "|---|---|---|"]
    lines += [f"| {k} | {v['nDCG@10']:.4f} | {v['R@100']:.4f} |" for k, v in rows.items()]
    out_json.with_suffix(".md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
