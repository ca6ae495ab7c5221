"""The synthetic corpus for the scale benchmarks: profile an encoded real corpus, then bulk-load N documents.

    python eval/bench_synthetic.py --profile-corpus scifact --docs 1000000   # profile + build + merge
    python eval/bench_latency.py --corpus synthetic --docs 1000000 --reuse   # then time it

The profile (nail_os.synthetic.fit_profile) is cached as CACHE/<corpus>.profile.npz. The build runs
`workers` processes, each generating its own slice of blocks and sending it through `nail_os.ingest`
(pre-encoded records: BM25 text + features), so generation, feature naming and JSON encoding on the client
use both cores while the node indexes.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import time
from typing import Any

from bench_common import BUILD_CHUNK, CACHE, client, encoded_records, machine, write_results

from nail_os.efficiency import force_merge, store_size
from nail_os.ingest import IngestOptions, IngestReport, ingest
from nail_os.mapping import create_index
from nail_os.registry import resolve_model_dir
from nail_os.synthetic import BLOCK_DOCS, CorpusProfile, fit_profile, generate_records
from nail_os.tokens import Tokenizer

SEED = 0  # one synthetic corpus for every result: (profile, seed 0)


def load_profile(corpus: str, tokenizer: Tokenizer) -> CorpusProfile:
    path = CACHE / f"{corpus}.profile.npz"
    if not path.is_file():
        fit_profile(encoded_records(corpus), tokenizer).save(path)
    return CorpusProfile.load(path)


def _worker(args: tuple[str, str, CorpusProfile, int, int, bool, int | None, int]) -> dict[str, Any]:
    url, index, profile, start, stop, text_only, top_k, chunk = args
    from bench_common import client as make

    from nail_os.corpus import Record

    tokenizer = Tokenizer.from_model_dir(resolve_model_dir("splade-tiny"))
    records = generate_records(profile, tokenizer, stop, start=start, seed=SEED)
    if text_only:
        records = (Record(source=r.source, line=r.line, doc_id=r.doc_id, title=r.title, text=r.text)
                   for r in records)
    options = IngestOptions(index=index, chunk_size=chunk, top_k=top_k, resume=False, state_path=None,
                            refresh=False)
    report = ingest(make(url), records, options, tokenizer=tokenizer, show_progress=False)
    return {"indexed": report.indexed, "rejected": report.rejected, "retries": report.retries,
            "seconds": report.seconds}


def build_synthetic(os_client, index: str, profile: CorpusProfile, tokenizer: Tokenizer, n_docs: int, *,
                    workers: int = 2, shards: int = 1, text_only: bool = False, top_k: int | None = None,
                    chunk_size: int = BUILD_CHUNK) -> IngestReport:
    """(Re)create `index` and load documents 0..n_docs-1 of the synthetic corpus with `workers` processes."""
    os_client.indices.delete(index=index, ignore_unavailable=True)
    create_index(os_client, index, shards=shards)
    os_client.indices.put_settings(index=index, body={"index": {"refresh_interval": "-1"}})
    blocks = list(range(0, n_docs, BLOCK_DOCS))
    per = -(-len(blocks) // workers)
    url = f"http://{os_client.transport.hosts[0]['host']}:{os_client.transport.hosts[0]['port']}"
    jobs = [(url, index, profile, blocks[i], min(n_docs, blocks[i] + per * BLOCK_DOCS), text_only, top_k,
             chunk_size) for i in range(0, len(blocks), per)]
    started = time.monotonic()
    with mp.get_context("fork").Pool(len(jobs)) as pool:
        parts = pool.map(_worker, jobs)
    report = IngestReport(indexed=sum(p["indexed"] for p in parts), rejected=sum(p["rejected"] for p in parts),
                          retries=sum(p["retries"] for p in parts), seconds=time.monotonic() - started)
    os_client.indices.put_settings(index=index, body={"index": {"refresh_interval": "1s"}})
    os_client.indices.refresh(index=index)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile-corpus", default="scifact")
    parser.add_argument("--docs", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    tokenizer = Tokenizer.from_model_dir(resolve_model_dir("splade-tiny"))
    profile = load_profile(args.profile_corpus, tokenizer)
    os_client = client()
    env = machine(os_client)
    index = "bench-synthetic"
    report = build_synthetic(os_client, index, profile, tokenizer, args.docs, workers=args.workers)
    merge_started = time.monotonic()
    force_merge(os_client, index)
    result = {"index": index, "profile": profile.summary(), "profile_corpus": args.profile_corpus,
              "docs": report.indexed, "rejected": report.rejected, "retries": report.retries,
              "ingest_s": round(report.seconds, 1), "docs_per_s": round(report.indexed / report.seconds, 1),
              "merge_s": round(time.monotonic() - merge_started, 1), "size": store_size(os_client, index),
              "workers": args.workers, "machine": env}
    md = (f"# Synthetic corpus build: {index}\n\nProfile of {args.profile_corpus}: {json.dumps(profile.summary())}\n\n"
          f"{report.indexed:,} documents in {report.seconds:.0f} s ({result['docs_per_s']:.0f} docs/s, "
          f"{args.workers} ingest processes), {report.rejected} rejected, {report.retries} retries; force merge "
          f"{result['merge_s']} s; {result['size']['bytes_per_doc']:.0f} bytes/doc.")
    write_results(f"synthetic_{args.docs // 1000}k", result, md)
    print(json.dumps(result, indent=1, default=float))


if __name__ == "__main__":
    main()
