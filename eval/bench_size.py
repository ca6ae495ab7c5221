"""Index size: bytes per document of the NAIL field vs the BM25 text fields, after a force merge to one segment.

    python eval/bench_size.py --corpus scifact debian-descriptions synthetic --model splade-tiny
    python eval/bench_size.py --corpus cacm cranfield medline nfcorpus scifact --features ~/.cache/nail-os/bench/scale \
        --length-aware --top-k                                       # the shipped model (encode_scale.sh)

OpenSearch has no per-field disk usage API, so each corpus is indexed three times, each merged to one segment:
- full: what nail-os builds (BM25 text fields + NAIL rank_features; features kept out of `_source`),
- text: the same documents without features (a BM25-only index),
- text-nosource: text without `_source` (only the BM25 index structures: terms, postings, positions, norms).
NAIL field = full - text (the rank_features and the `nail_tokens` statistics field); BM25 text field = text -
text-nosource is the stored text, text-nosource is the inverted index. `--length-aware` adds a variant whose
documents keep max(32, 2 x their token count) features (the length-aware top-k, bench_scale.length_aware).
The target compares the NAIL field with the BM25 index (`text`, what a BM25 user pays today).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from bench_common import build_index, client, encoded_records, machine, write_results
from bench_scale import cut_length_aware

from nail_os.corpus import Record
from nail_os.evaluation.efficiency import force_merge, size_breakdown, store_size
from nail_os.registry import resolve_model_dir
from nail_os.tokens import Tokenizer

SYNTHETIC_DOCS = 5_000  # bytes per document barely move with corpus size past a few thousand documents


def records_for(corpus: str, tokenizer: Tokenizer, model: str, features: Path | None) -> list[Record]:
    if corpus == "synthetic":
        from bench_synthetic import load_profile

        from nail_os.evaluation.synthetic import generate_records

        return list(generate_records(load_profile("scifact", tokenizer), tokenizer, SYNTHETIC_DOCS, seed=2,
                                     id_prefix="z"))
    return encoded_records(corpus, model, features / f"{corpus}.jsonl" if features else None)


def measure(os_client, corpus: str, tokenizer: Tokenizer, top_ks: list[int | None], model: str,
            features: Path | None, length_aware_variant: bool) -> dict[str, Any]:
    records = records_for(corpus, tokenizer, model, features)
    variants: list[tuple[str, dict[str, Any], list[Record]]] = [
        ("text", {"text_only": True}, records), ("text_nosource", {"text_only": True, "source": False}, records),
        *((f"full_k{k}" if k else "full", {"top_k": k}, records) for k in top_ks)]
    if length_aware_variant:
        variants.append(("full_la2", {}, cut_length_aware(records, tokenizer)))
    sizes: dict[str, Any] = {}
    counts: dict[str, float] = {}
    for variant, kw, docs in variants:
        index = f"bench-size-{corpus}-{variant}".replace("_", "-")
        counts[variant] = sum(len(r.features or {}) for r in docs) / len(docs)
        build_index(os_client, index, docs, tokenizer, show_progress=False, **kw)
        force_merge(os_client, index)
        sizes[variant] = store_size(os_client, index)
        os_client.indices.delete(index=index)
        print(corpus, variant, sizes[variant], flush=True)
    out: dict[str, Any] = {"docs": len(records), "features_per_doc": counts["full"], "sizes": sizes}
    for variant in [v for v in sizes if v.startswith("full")]:
        split = size_breakdown(sizes["text"], sizes[variant])
        nail = split["nail_field"]["bytes_per_doc"]
        out[variant] = {"nail_bytes_per_doc": nail, "bm25_index_bytes_per_doc": sizes["text"]["bytes_per_doc"],
                        "bm25_postings_bytes_per_doc": sizes["text_nosource"]["bytes_per_doc"],
                        "nail_to_bm25_index": nail / sizes["text"]["bytes_per_doc"],
                        "nail_to_bm25_postings": nail / sizes["text_nosource"]["bytes_per_doc"],
                        "full_to_text": split["full_to_bm25_only"], "features_per_doc": counts[variant]}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", nargs="+", default=["scifact", "synthetic"])
    parser.add_argument("--top-k", type=int, nargs="*", default=[64, 128])
    parser.add_argument("--model", default="nail-minilm", help="whose tokenizer (and CACHE/<corpus>.<model>.jsonl)")
    parser.add_argument("--features", type=Path, default=None, help="a folder of <corpus>.jsonl features instead")
    parser.add_argument("--length-aware", action="store_true", help="also the length-aware top-k (n x 2, >= 32)")
    args = parser.parse_args()
    tokenizer = Tokenizer.from_model_dir(resolve_model_dir(args.model))
    os_client = client()
    result: dict[str, Any] = {"machine": machine(os_client), "corpora": {}}
    for corpus in args.corpus:
        result["corpora"][corpus] = measure(os_client, corpus, tokenizer, [None, *args.top_k], args.model,
                                            args.features, args.length_aware)
    write_results("size", result, render_markdown(result), render_figure(result))
    print(json.dumps(result["corpora"], indent=1, default=float)[:3000])


def render_markdown(result: dict[str, Any]) -> str:
    out = ["# Index size (force-merged to one segment)", "",
           "NAIL field = size(full index) - size(same documents without features). BM25 index = the text-only "
           "index (inverted index + stored `_source`); BM25 postings = the text-only index without `_source`. "
           "Target: NAIL field <= 2x the BM25 index.", "",
           "| corpus | docs | top-k | features/doc | NAIL B/doc | BM25 index B/doc | BM25 postings B/doc | "
           "NAIL / BM25 index | NAIL / BM25 postings |", "|---|---|---|---|---|---|---|---|---|"]
    for corpus, c in result["corpora"].items():
        for variant in [v for v in c if v.startswith("full")]:
            r = c[variant]
            k = variant.removeprefix("full").removeprefix("_k").replace("_la2", "length-aware") or "all (256 cap)"
            out.append(f"| {corpus} | {c['docs']:,} | {k} | {r.get('features_per_doc', c['features_per_doc']):.0f} | "
                       f"{r['nail_bytes_per_doc']:.0f} | {r['bm25_index_bytes_per_doc']:.0f} | "
                       f"{r['bm25_postings_bytes_per_doc']:.0f} | "
                       f"{r['nail_to_bm25_index']:.2f}x | {r['nail_to_bm25_postings']:.2f}x |")
    return "\n".join(out)


def render_figure(result: dict[str, Any]) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.5))
    labels, nail, bm25 = [], [], []
    for corpus, c in result["corpora"].items():
        for variant in [v for v in c if v.startswith("full")]:
            labels.append(f"{corpus}\n{variant}")
            nail.append(c[variant]["nail_bytes_per_doc"])
            bm25.append(c[variant]["bm25_index_bytes_per_doc"])
    xs = range(len(labels))
    ax.bar([x - 0.2 for x in xs], bm25, width=0.4, label="BM25 index (text + _source)")
    ax.bar([x + 0.2 for x in xs], nail, width=0.4, label="NAIL field")
    ax.set_xticks(list(xs), labels, fontsize=7)
    ax.set_ylabel("bytes / document")
    ax.legend()
    ax.set_title("Index size after force merge")
    return fig


if __name__ == "__main__":
    main()
