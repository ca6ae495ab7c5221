"""Query latency on real text as the index grows: 10k, 30k, 100k, 300k passages, then resampled past that.

    python eval/bench_scale.py --features ~/.cache/nail-os/bench/scale            # the real points
    python eval/bench_scale.py --features ~/.cache/nail-os/bench/scale --resampled 600000

The corpus is every passage of ../shared/data that has text: the five debian-text files (dictionary, WordNet,
Linux/Python/Perl documentation), debian-descriptions and the five test corpora, 313k passages, with the
features the shipped model gave them on the GPU (eval/train/encode_scale.sh: length-aware top-k, n x 2 tokens,
at least 32; the test corpora are cut the same way here). They are shuffled once (seed 0) and ingested in
that order, so each size is a random sample of the whole mix; after each step the index is force-merged to one
segment and timed.

Queries are real: test queries of the five collections and Debian synopses (half each), every mode run back to
back per query, modes interleaved (`nail_os.efficiency.time_queries`), NAIL and the hybrid with the query
weights the kit sends by default (IDF over the index's own documents, `nail_os.statistics`; read once per
query before timing, as the kit's cache does). BM25 is timed in the three shapes a user would pick:
`match` on the text field, `combined_fields` over title and text (BM25F; both let Lucene skip non-competitive
documents) and the kit's `multi_match` (best_fields, tie_breaker 0.5, BEIR's baseline). Ratios are to the
fastest of the three at each size.

`--resampled N` then grows the index past the real corpus by adding copies of real passages (text and features
together, drawn with replacement, ids renamed), and as a check builds a resampled index of the largest real size
from a third of it, to compare with the real point.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench_common import CACHE, DATA, client, encoded_records, machine, write_results

from nail_os.corpus import Record, read_queries
from nail_os.evaluation.efficiency import force_merge, store_size, summarize_latency, time_queries
from nail_os.ingest import IngestOptions, ingest
from nail_os.mapping import create_index
from nail_os.model.encode import length_aware_top_k
from nail_os.queries import QueryOptions, build_query
from nail_os.registry import resolve_model_dir
from nail_os.statistics import index_statistics
from nail_os.tokens import Tokenizer

# (corpus under DATA, features file stem under --features): the scale corpus, 313k passages.
CORPORA = [
    *((f"debian-text/{n}.jsonl.gz", f"debian-text-{n}") for n in ("gcide", "wordnet", "linux-doc", "python-doc",
                                                                   "perl-doc")),
    ("debian-descriptions", "debian-descriptions"),
    *((n, n) for n in ("scifact", "nfcorpus", "cranfield", "cacm", "medline")),
]
TEST_COLLECTIONS = ("scifact", "nfcorpus", "cranfield", "cacm", "medline")
SIZES = (10_000, 30_000, 100_000, 300_000)
N_QUERIES = 400  # 200 test queries + 200 Debian synopses
PASSES = 3
TOP_K_PER_TOKEN, MIN_TOP_K, TOP_K = 2.0, 32, 256  # the length-aware cut encode_scale.sh used
INDEX = "bench-scale"


def length_aware(features: dict[str, float], num_tokens: int) -> dict[str, float]:
    """The top max(MIN_TOP_K, n x TOP_K_PER_TOKEN) of a document's features (DocumentEncoder.keep)."""
    keep = length_aware_top_k(num_tokens, TOP_K, TOP_K_PER_TOKEN, MIN_TOP_K)
    if len(features) <= keep:
        return features
    return dict(sorted(features.items(), key=lambda kv: (-kv[1], kv[0]))[:keep])


def cut_length_aware(records: list[Record], tokenizer: Tokenizer) -> list[Record]:
    """`records` with the length-aware cut applied to features encoded with the full top-256."""
    lengths = [len(e.ids) - 2 for e in tokenizer.hf.encode_batch([r.full_text for r in records])]
    return [replace(r, features=length_aware(r.features or {}, n)) for r, n in zip(records, lengths, strict=True)]


def load_corpus(features_dir: Path, tokenizer: Tokenizer) -> list[Record]:
    """Every passage with its features, ids prefixed by the corpus (test corpora share numeric ids)."""
    records: list[Record] = []
    for corpus, stem in CORPORA:
        path = features_dir / f"{stem}.jsonl"
        if not path.is_file():
            print(f"{stem}: no features in {features_dir}, left out", flush=True)
            continue
        passages = encoded_records(corpus, path=path)
        if stem in TEST_COLLECTIONS:  # encoded with the full top-256: cut here as the others were on the GPU
            passages = cut_length_aware(passages, tokenizer)
        records += [replace(r, doc_id=f"{stem}:{r.doc_id}") for r in passages]
        print(f"{stem}: {len(passages):,} passages", flush=True)
    return records


def sample_queries(seed: int = 0) -> dict[str, str]:
    """N_QUERIES real queries: half test queries of the five collections, half Debian synopses."""
    rng = random.Random(seed)
    tests = [(f"{c}:{q}", t) for c in TEST_COLLECTIONS for q, t in read_queries(DATA / c / "queries.jsonl").items()]
    debian = [(f"debian:{q}", t) for q, t in read_queries(DATA / "debian-descriptions" / "queries.jsonl").items()]
    half = N_QUERIES // 2
    return dict(rng.sample(tests, half) + rng.sample(debian, half))


def bm25_bodies() -> dict[str, Callable[[str], dict[str, Any]]]:
    """The three BM25 shapes; `multi_match` is the kit's own (QueryOptions(mode="bm25"))."""
    return {
        "bm25_match": lambda t: {"size": 10, "_source": ["doc_id", "title"], "query": {"match": {"text": t}}},
        "bm25_combined": lambda t: {"size": 10, "_source": ["doc_id", "title"],
                                    "query": {"combined_fields": {"query": t, "fields": ["title", "text"]}}},
        "bm25_multi": lambda t: build_query(t, None, QueryOptions(mode="bm25")),
    }


def time_size(os_client: Any, queries: dict[str, str], tokenizer: Tokenizer) -> dict[str, Any]:
    """Every mode on the index as it is now; ratios to the fastest BM25 shape (client p50)."""
    stats = index_statistics(os_client, INDEX)
    weights = {q: stats.weights(tokenizer.query_token_ids(t)) for q, t in queries.items()}
    by_text = {queries[q]: w for q, w in weights.items()}

    def nail_body(options: QueryOptions) -> Callable[[str], dict[str, Any]]:
        return lambda t: build_query(t, tokenizer, options, by_text[t])

    bodies = {**bm25_bodies(), "nail": nail_body(QueryOptions(mode="nail")),
              "hybrid": nail_body(QueryOptions(mode="hybrid")),
              # the hybrid on the prunable BM25 shape (`--bm25-query combined_fields`)
              "hybrid_combined": nail_body(QueryOptions(mode="hybrid", bm25_query="combined_fields"))}
    samples = time_queries(os_client, INDEX, queries, bodies, repeats=PASSES, warmup=1)
    first = summarize_latency(samples, baseline="bm25_match")
    fastest = min(("bm25_match", "bm25_combined", "bm25_multi"), key=lambda m: first["modes"][m]["client_ms"]["p50"])
    out = summarize_latency(samples, baseline=fastest)
    out["fastest_bm25"] = fastest
    return out


def grow(os_client: Any, records: Iterator[Record], tokenizer: Tokenizer, total: int) -> None:
    options = IngestOptions(index=INDEX, chunk_size=1000, resume=False, state_path=None, refresh=True)
    ingest(os_client, records, options, tokenizer=tokenizer, total=total, show_progress=True)


def renamed(records: list[Record], n: int, seed: int, tag: str) -> Iterator[Record]:
    """`n` copies of records drawn with replacement, each with a new id: real feature sets, a bigger corpus."""
    rng = random.Random(seed)
    for i in range(n):
        r = records[rng.randrange(len(records))]
        yield Record(source=r.source, line=r.line, doc_id=f"{tag}{i}:{r.doc_id}", title=r.title, text=r.text,
                     features=r.features)


def measure(os_client: Any, label: str, queries: dict[str, str], tokenizer: Tokenizer,
            build_s: float) -> dict[str, Any]:
    started = time.monotonic()
    force_merge(os_client, INDEX)
    merged = time.monotonic() - started
    size = store_size(os_client, INDEX)
    print(f"{label}: {size['docs']:,} docs, {size['bytes_per_doc']:.0f} B/doc; timing", flush=True)
    latency = time_size(os_client, queries, tokenizer)
    print(json.dumps({m: round(s["client_ms"]["p50"], 2) for m, s in latency["modes"].items()}), flush=True)
    return {"label": label, "docs": size["docs"], "size": size, "ingest_s": round(build_s, 1),
            "merge_s": round(merged, 1), "latency": latency}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--features", type=Path, default=CACHE / "scale", help="encode_scale.sh's JSONL folder")
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="real sizes, ascending")
    parser.add_argument("--resampled", type=int, default=0,
                        help="then grow to this size (sizes past the real corpus are always resampled)")
    args = parser.parse_args()
    tokenizer = Tokenizer.from_model_dir(resolve_model_dir("nail-minilm"))
    os_client = client()
    env = machine(os_client)
    records = load_corpus(args.features, tokenizer)
    random.Random(0).shuffle(records)
    queries = sample_queries()
    sizes = [int(s) for s in args.sizes.split(",")] + ([args.resampled] if args.resampled else [])
    os_client.indices.delete(index=INDEX, ignore_unavailable=True)
    create_index(os_client, INDEX)
    os_client.indices.put_settings(index=INDEX, body={"index": {"refresh_interval": "-1"}})
    points: list[dict[str, Any]] = []
    done = 0
    for size in sizes:
        started = time.monotonic()
        if size <= len(records):
            grow(os_client, iter(records[done:size]), tokenizer, size - done)
            label = f"real {size:,}"
        else:  # past the real corpus: copies of real passages, drawn with replacement, ids renamed
            real = min(done, len(records))
            if real < len(records):
                grow(os_client, iter(records[real:]), tokenizer, len(records) - real)
                done = len(records)
            grow(os_client, renamed(records, size - done, size, f"r{size}-"), tokenizer, size - done)
            label = f"resampled {size:,}"
        points.append(measure(os_client, label, queries, tokenizer, time.monotonic() - started))
        done = size
        write(points, env, len(records))
    real_sizes = [s for s in sizes if s <= len(records)]
    if sizes[-1] > len(records) and real_sizes:
        # The check: the largest real size rebuilt from a third of its passages plus resampled copies of them.
        check = real_sizes[-1]
        os_client.indices.delete(index=INDEX)
        create_index(os_client, INDEX)
        os_client.indices.put_settings(index=INDEX, body={"index": {"refresh_interval": "-1"}})
        started = time.monotonic()
        base = records[: check // 3]
        grow(os_client, iter(base), tokenizer, len(base))
        grow(os_client, renamed(base, check - len(base), 2, "c"), tokenizer, check - len(base))
        points.append(measure(os_client, f"resampled check {check:,}", queries, tokenizer,
                              time.monotonic() - started))
        write(points, env, len(records))


def write(points: list[dict[str, Any]], env: dict[str, Any], corpus_docs: int) -> None:
    modes = list(points[0]["latency"]["modes"])
    head = "| documents | fastest BM25 (p50 ms) | " + " | ".join(modes) + " | bytes/doc |"
    out = [
        "# Query latency on real text against the index size",
        "",
        f"Real passages of ../shared/data ({corpus_docs:,} in all) with nail-minilm features (see performance.md "
        "for which version encoded which file; all length-aware), one shard "
        f"force-merged to one segment at each size; {N_QUERIES} real queries x {PASSES} passes, modes interleaved, "
        "request cache off. Cells: client p50 ms (p50 / p99 ratio to the fastest BM25 shape at that size).",
        "",
        head,
        "|" + "---|" * (len(modes) + 3),
    ]
    for p in points:
        lat = p["latency"]
        cells = []
        for m in modes:
            s, r = lat["modes"][m]["client_ms"], lat["ratios"][m]["client_ms"]
            cells.append(f"{s['p50']:.1f} ({r['p50']:.2f}x / {r['p99']:.2f}x)")
        fastest = lat["fastest_bm25"]
        out.append(f"| {p['label']} | {fastest} ({lat['modes'][fastest]['client_ms']['p50']:.1f}) | "
                   + " | ".join(cells) + f" | {p['size']['bytes_per_doc']:.0f} |")
    out += ["", "Server `took` p50 / p95 / p99 ms:", "", "| documents | " + " | ".join(modes) + " |",
            "|" + "---|" * (len(modes) + 1)]
    for p in points:
        t = p["latency"]["modes"]
        out.append(f"| {p['label']} | " + " | ".join(
            f"{t[m]['took_ms']['p50']:.0f} / {t[m]['took_ms']['p95']:.0f} / {t[m]['took_ms']['p99']:.0f}"
            for m in modes) + " |")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    real = [p for p in points if p["label"].startswith(("real", "resampled ")) and "check" not in p["label"]]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    docs = [p["docs"] for p in real]
    for m in ("nail", "hybrid", "hybrid_combined", "bm25_multi"):
        left.plot(docs, [p["latency"]["ratios"][m]["client_ms"]["p50"] for p in real], "o-", label=f"{m} p50")
    left.axhline(1.1, ls="--", c="tab:green", lw=1, label="NAIL target 1.1x")
    left.axhline(1.8, ls=":", c="tab:red", lw=1, label="hybrid target 1.8x")
    left.set(xscale="log", xlabel="documents", ylabel="client p50 / fastest BM25", title="ratios")
    left.legend(fontsize=7)
    for m in modes:
        right.plot(docs, [p["latency"]["modes"][m]["client_ms"]["p50"] for p in real], "o-", label=m)
    right.set(xscale="log", xlabel="documents", ylabel="client p50 ms", title="client p50")
    right.legend(fontsize=7)
    fig.tight_layout()
    write_results("scale_real", {"points": points, "corpus_docs": corpus_docs, "queries": N_QUERIES,
                                 "passes": PASSES, "machine": env}, "\n".join(out), fig)
    plt.close(fig)


if __name__ == "__main__":
    main()
