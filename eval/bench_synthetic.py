"""The synthetic corpus for the scale benchmarks: profile an encoded real corpus, then bulk-load N documents.

    python eval/bench_synthetic.py --profile-corpus scifact --docs 1000000   # profile + build + merge
    python eval/bench_latency.py --corpus synthetic --docs 1000000 --reuse   # then time it
    python eval/bench_synthetic.py --docs 1000000 --extend    # keep what the index holds, send the rest

`--extend` makes a build resumable: it keeps the index and sends only the blocks of BLOCK_DOCS documents
whose last document is not in it yet (a realtime get by id per block), so a build stopped at any point
(Ctrl-C, a lost machine) is finished by running the same command again; resent documents overwrite
themselves (ids are the document numbers).

The profile (nail_os.evaluation.synthetic.fit_profile) is cached as CACHE/<corpus>.profile.npz. The build runs
`workers` processes, each generating its own slice of blocks and sending it through `nail_os.ingest`
(pre-encoded records: BM25 text + features), so generation, feature naming and JSON encoding on the client
use both cores while the node indexes.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import time
from itertools import chain
from typing import Any

from bench_common import BUILD_CHUNK, CACHE, client, encoded_records, machine, write_results

from nail_os.evaluation.efficiency import force_merge, store_size
from nail_os.evaluation.synthetic import BLOCK_DOCS, CorpusProfile, fit_profile, generate_records
from nail_os.ingest import IngestOptions, IngestReport, ingest
from nail_os.mapping import create_index
from nail_os.registry import resolve_model_dir
from nail_os.tokens import Tokenizer

SEED = 0  # one synthetic corpus for every result: (profile, seed 0)


def load_profile(corpus: str, tokenizer: Tokenizer) -> CorpusProfile:
    path = CACHE / f"{corpus}.profile.npz"
    if not path.is_file():
        fit_profile(encoded_records(corpus), tokenizer).save(path)
    return CorpusProfile.load(path)


def _worker(args: tuple[str, str, CorpusProfile, list[int], int, bool, int | None, int]) -> dict[str, Any]:
    url, index, profile, blocks, n_docs, text_only, top_k, chunk = args
    from bench_common import client as make

    from nail_os.corpus import Record

    tokenizer = Tokenizer.from_model_dir(resolve_model_dir("splade-tiny"))
    records = chain.from_iterable(
        generate_records(profile, tokenizer, min(n_docs, start + BLOCK_DOCS), start=start, seed=SEED)
        for start in blocks
    )
    if text_only:
        records = (Record(source=r.source, line=r.line, doc_id=r.doc_id, title=r.title, text=r.text) for r in records)
    options = IngestOptions(index=index, chunk_size=chunk, top_k=top_k, resume=False, state_path=None, refresh=False)
    report = ingest(make(url), records, options, tokenizer=tokenizer, show_progress=False)
    return {
        "indexed": report.indexed,
        "rejected": report.rejected,
        "retries": report.retries,
        "seconds": report.seconds,
    }


def missing_blocks(os_client, index: str, n_docs: int) -> list[int]:
    """First document of each block of 0..n_docs-1 whose last document `index` does not hold (realtime get).

    A worker sends its blocks in order, in chunks that divide a block, so a block whose last document is in
    has all of its documents in; a block cut short is sent again whole.
    """
    blocks = list(range(0, n_docs, BLOCK_DOCS))
    last = [f"syn{min(n_docs, b + BLOCK_DOCS) - 1}" for b in blocks]
    found = os_client.mget(index=index, body={"ids": last}, _source=False)["docs"]
    return [b for b, doc in zip(blocks, found, strict=True) if not doc.get("found")]


def build_synthetic(
    os_client,
    index: str,
    profile: CorpusProfile,
    tokenizer: Tokenizer,
    n_docs: int,
    *,
    workers: int = 2,
    shards: int = 1,
    text_only: bool = False,
    top_k: int | None = None,
    chunk_size: int = BUILD_CHUNK,
    extend: bool = False,
) -> IngestReport:
    """(Re)create `index` and load documents 0..n_docs-1 of the synthetic corpus with `workers` processes.

    With `extend`, an existing index is kept and only its missing blocks are sent (`missing_blocks`).
    """
    if extend and os_client.indices.exists(index=index):
        blocks = missing_blocks(os_client, index, n_docs)
        print(f"{index}: {len(blocks)} of {-(-n_docs // BLOCK_DOCS)} blocks to send", flush=True)
    else:
        os_client.indices.delete(index=index, ignore_unavailable=True)
        create_index(os_client, index, shards=shards)
        blocks = list(range(0, n_docs, BLOCK_DOCS))
    os_client.indices.put_settings(index=index, body={"index": {"refresh_interval": "-1"}})
    per = -(-len(blocks) // workers)
    url = f"http://{os_client.transport.hosts[0]['host']}:{os_client.transport.hosts[0]['port']}"
    jobs = [
        (url, index, profile, blocks[i : i + per], n_docs, text_only, top_k, chunk_size)
        for i in range(0, len(blocks), per)
    ]
    started = time.monotonic()
    parts = []
    if jobs:
        with mp.get_context("fork").Pool(len(jobs)) as pool:
            parts = pool.map(_worker, jobs)
    report = IngestReport(
        indexed=sum(p["indexed"] for p in parts),
        rejected=sum(p["rejected"] for p in parts),
        retries=sum(p["retries"] for p in parts),
        seconds=time.monotonic() - started,
    )
    os_client.indices.put_settings(index=index, body={"index": {"refresh_interval": "1s"}})
    os_client.indices.refresh(index=index)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile-corpus", default="scifact")
    parser.add_argument("--docs", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--index", default="bench-synthetic")
    parser.add_argument("--extend", action="store_true", help="keep the index, send only the blocks it lacks")
    args = parser.parse_args()
    tokenizer = Tokenizer.from_model_dir(resolve_model_dir("splade-tiny"))
    profile = load_profile(args.profile_corpus, tokenizer)
    os_client = client()
    env = machine(os_client)
    index = args.index
    report = build_synthetic(os_client, index, profile, tokenizer, args.docs, workers=args.workers, extend=args.extend)
    total = os_client.count(index=index)["count"]
    merge_started = time.monotonic()
    force_merge(os_client, index)
    result = {
        "index": index,
        "profile": profile.summary(),
        "profile_corpus": args.profile_corpus,
        "docs": total,
        "sent": report.indexed,
        "extend": args.extend,
        "rejected": report.rejected,
        "retries": report.retries,
        "ingest_s": round(report.seconds, 1),
        "docs_per_s": round(report.indexed / max(report.seconds, 1e-9), 1),
        "merge_s": round(time.monotonic() - merge_started, 1),
        "size": store_size(os_client, index),
        "workers": args.workers,
        "machine": env,
    }
    kept = f" (kept {total - report.indexed:,} already in the index: --extend)" if args.extend else ""
    md = (
        f"# Synthetic corpus build: {index}\n\nProfile of {args.profile_corpus}: {json.dumps(profile.summary())}\n\n"
        f"{total:,} documents; {report.indexed:,} sent in {report.seconds:.0f} s ({result['docs_per_s']:.0f} docs/s, "
        f"{args.workers} ingest processes){kept}, {report.rejected} rejected, {report.retries} retries; force merge "
        f"{result['merge_s']} s; {result['size']['bytes_per_doc']:.0f} bytes/doc."
    )
    write_results(f"synthetic_{args.docs // 1000}k", result, md)
    print(json.dumps(result, indent=1, default=float))


if __name__ == "__main__":
    main()
