"""Ingest throughput of pre-encoded documents vs the same documents as text only; bulk size, clients, shards;
and the read -> encode -> bulk pipeline with encoding and bulk overlapped.

    python eval/bench_ingest.py                 # throughput grid on synthetic scifact-like documents
    python eval/bench_ingest.py --pipeline      # + splade-tiny encode -> bulk, sequential vs overlapped

Every configuration loads the same documents into a fresh index through `nail_os.ingest` (the product path:
feature naming, weight rounding, JSON, bulk, retries) and ends with a refresh, so docs/s counts the work
until the documents are searchable. Documents are generated before the clock starts. The pre-encoded vs
text-only pair runs interleaved (A B A B), since other processes share the two cores.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import queue
import threading
import time
from collections.abc import Iterator
from typing import Any

from bench_common import client, machine, write_results
from bench_synthetic import load_profile

from nail_os.corpus import Record
from nail_os.evaluation.synthetic import generate_records
from nail_os.ingest import IngestOptions, ingest
from nail_os.mapping import create_index
from nail_os.registry import resolve_model_dir
from nail_os.tokens import Tokenizer

INDEX = "bench-ingest"
RECORDS: list[Record] = []  # filled before the workers fork, so each reads its slice without pickling
TEXT_ONLY: list[Record] = []


def _load(args: tuple[str, int, int, bool, int, bool, int | None]) -> int:
    url, start, stop, text_only, chunk, overlap, top_k = args
    from bench_common import client as make

    tokenizer = Tokenizer.from_model_dir(resolve_model_dir("splade-tiny"))
    records = (TEXT_ONLY if text_only else RECORDS)[start:stop]
    options = IngestOptions(
        index=INDEX, chunk_size=chunk, resume=False, state_path=None, refresh=False, overlap=overlap, top_k=top_k
    )
    return ingest(make(url), records, options, tokenizer=tokenizer, show_progress=False).indexed


def run_config(
    url: str,
    n_docs: int,
    *,
    text_only: bool = False,
    chunk: int = 500,
    workers: int = 1,
    shards: int = 1,
    overlap: bool = True,
    top_k: int | None = None,
    features_in_source: bool = False,
) -> dict[str, Any]:
    os_client = client(url)
    os_client.indices.delete(index=INDEX, ignore_unavailable=True)
    create_index(os_client, INDEX, shards=shards, keep_features_in_source=features_in_source)
    per = -(-n_docs // workers)
    jobs = [(url, i, min(n_docs, i + per), text_only, chunk, overlap, top_k) for i in range(0, n_docs, per)]
    started, cpu_started = time.monotonic(), time.process_time()
    if workers == 1:
        indexed = _load(jobs[0])
    else:
        with mp.get_context("fork").Pool(workers) as pool:
            indexed = sum(pool.map(_load, jobs))
    os_client.indices.refresh(index=INDEX)
    seconds = time.monotonic() - started
    count = os_client.count(index=INDEX)["count"]
    # Where the time goes: the node's own indexing time (parse + Lucene, summed over write threads) and, with
    # one client in this process, the client's CPU (feature naming, rounding, JSON).
    stats = os_client.indices.stats(index=INDEX, metric="indexing")["_all"]["primaries"]["indexing"]
    client_cpu = time.process_time() - cpu_started if workers == 1 else None
    return {
        "text_only": text_only,
        "chunk": chunk,
        "workers": workers,
        "shards": shards,
        "overlap": overlap,
        "top_k": top_k,
        "features_in_source": features_in_source,
        "docs": indexed,
        "searchable": count,
        "seconds": round(seconds, 2),
        "docs_per_s": round(indexed / seconds, 1),
        "server_index_ms_per_doc": round(stats["index_time_in_millis"] / max(indexed, 1), 3),
        "client_cpu_ms_per_doc": None if client_cpu is None else round(client_cpu * 1000 / max(indexed, 1), 3),
    }


def pipeline(url: str, n_docs: int) -> dict[str, Any]:
    """splade-tiny on this CPU, then bulk: one after the other (what `ingest` does today) vs overlapped."""
    from bench_common import DATA

    from nail_os.corpus import read_corpus
    from nail_os.model import load_model

    encoder = load_model("splade-tiny", device="cpu", precision="bf16")
    tokenizer = encoder.tokenizer
    records = list(read_corpus(DATA / "scifact"))[:n_docs]
    os_client = client(url)
    chunk = 128
    results: dict[str, Any] = {}
    for mode in ("sequential", "overlapped", "sequential", "overlapped"):
        os_client.indices.delete(index=INDEX, ignore_unavailable=True)
        create_index(os_client, INDEX)
        options = IngestOptions(
            index=INDEX, chunk_size=chunk, resume=False, state_path=None, refresh=False, overlap=False
        )
        fresh = [Record(source=r.source, line=r.line, doc_id=r.doc_id, title=r.title, text=r.text) for r in records]
        started = time.monotonic()
        encode_s = 0.0

        def encoded_chunks(fresh: list[Record] = fresh) -> Iterator[list[Record]]:
            """The records chunk by chunk, each encoded (and its time added to encode_s) as it is asked for."""
            nonlocal encode_s
            for i in range(0, len(fresh), chunk):
                part = fresh[i : i + chunk]
                t0 = time.monotonic()
                for r, f in zip(part, encoder.encode_documents([r.full_text for r in part]), strict=True):
                    r.features = f
                encode_s += time.monotonic() - t0
                yield part

        if mode == "sequential":
            for part in encoded_chunks():
                ingest(os_client, part, options, tokenizer=tokenizer, show_progress=False)
        else:
            # A bounded queue of 2 chunks: encoding runs at most two chunks ahead of the bulk thread.
            todo: queue.Queue[list[Record] | None] = queue.Queue(maxsize=2)

            def send(todo: queue.Queue[list[Record] | None], options: IngestOptions) -> None:
                while (part := todo.get()) is not None:
                    ingest(os_client, part, options, tokenizer=tokenizer, show_progress=False)

            sender = threading.Thread(target=send, args=(todo, options))
            sender.start()
            for part in encoded_chunks():
                todo.put(part)
            todo.put(None)
            sender.join()
        os_client.indices.refresh(index=INDEX)
        seconds = time.monotonic() - started
        results.setdefault(mode, []).append(
            {"seconds": round(seconds, 2), "docs_per_s": round(len(fresh) / seconds, 1), "encode_s": round(encode_s, 2)}
        )
        print(mode, results[mode][-1], flush=True)
    return {"docs": len(records), "chunk": chunk, "encoder": "splade-tiny bf16 cpu", **results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=20_000)
    parser.add_argument("--pipeline", action="store_true")
    parser.add_argument("--pipeline-docs", type=int, default=512)
    parser.add_argument("--pipeline-only", action="store_true", help="only the pipeline (bench_ingest_pipeline.*)")
    args = parser.parse_args()
    os_client = client()
    url = f"http://{os_client.transport.hosts[0]['host']}:{os_client.transport.hosts[0]['port']}"
    env = machine(os_client)
    if args.pipeline_only:
        result = {"pipeline": pipeline(url, args.pipeline_docs), "machine": env}
        os_client.indices.delete(index=INDEX, ignore_unavailable=True)
        write_results("ingest_pipeline", result, render_pipeline(result["pipeline"]))
        return
    tokenizer = Tokenizer.from_model_dir(resolve_model_dir("splade-tiny"))
    RECORDS.extend(generate_records(load_profile("scifact", tokenizer), tokenizer, args.docs, seed=1, id_prefix="i"))
    TEXT_ONLY.extend(Record(source=r.source, line=r.line, doc_id=r.doc_id, title=r.title, text=r.text) for r in RECORDS)
    rows: list[dict[str, Any]] = []

    def go(**kw: Any) -> None:
        rows.append({"group": kw.pop("group"), **run_config(url, args.docs, **kw)})
        print(json.dumps(rows[-1]), flush=True)

    for _ in range(2):  # interleaved pairs: features vs text only, same documents
        go(group="features_vs_text")
        go(group="features_vs_text", text_only=True)
    for _ in range(2):  # the bulk sender thread (IngestOptions.overlap) on and off, pre-encoded
        go(group="overlap", overlap=False)
        go(group="overlap", overlap=True)
    for chunk in (100, 500, 2000):
        go(group="bulk_size", chunk=chunk)
    for workers in (1, 2, 4):
        go(group="clients", workers=workers)
        go(group="clients_text", workers=workers, text_only=True)
    for shards in (1, 2):
        go(group="shards", shards=shards, workers=2)
    # What the node's share would become (1 client): fewer features per document, features kept in _source
    # (no source filtering on the node; a larger index).
    go(group="levers")
    for top_k in (128, 64):
        go(group="levers", top_k=top_k)
    go(group="levers", features_in_source=True)
    result: dict[str, Any] = {"docs": args.docs, "rows": rows, "machine": env}
    pairs = [r for r in rows if r["group"] == "features_vs_text"]
    feat = [r["docs_per_s"] for r in pairs if not r["text_only"]]
    text = [r["docs_per_s"] for r in pairs if r["text_only"]]
    result["slowdown_features_vs_text"] = (sum(text) / len(text)) / (sum(feat) / len(feat))
    if args.pipeline:
        result["pipeline"] = pipeline(url, args.pipeline_docs)
    os_client.indices.delete(index=INDEX, ignore_unavailable=True)
    write_results("ingest", result, render_markdown(result), render_figure(result))


def render_markdown(result: dict[str, Any]) -> str:
    out = [
        "# Ingest throughput",
        "",
        f"{result['docs']:,} synthetic scifact-like documents per configuration (mean "
        "234 features, 225 words), fresh index each time, through `nail_os.ingest`, ending with a refresh.",
        "",
        f"**Pre-encoded vs text-only slowdown: {result['slowdown_features_vs_text']:.2f}x** (target <= 1.5x)",
        "",
        "server ms/doc: the node's indexing time (parse + Lucene) per document; client CPU ms/doc: this "
        "process's CPU per document (one client only).",
        "",
        "| group | features | bulk docs | clients | shards | sender thread | top-k | features in _source | docs/s "
        "| seconds | server ms/doc | client CPU ms/doc |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    out += [
        f"| {r['group']} | {'no' if r['text_only'] else 'yes'} | {r['chunk']} | {r['workers']} | {r['shards']} | "
        f"{'yes' if r.get('overlap', True) else 'no'} | {r.get('top_k') or '-'} | "
        f"{'yes' if r.get('features_in_source') else 'no'} | {r['docs_per_s']:.0f} | {r['seconds']} | "
        f"{r.get('server_index_ms_per_doc', '-')} | {r.get('client_cpu_ms_per_doc') or '-'} |"
        for r in result["rows"]
    ]
    if "pipeline" in result:
        out += ["", render_pipeline(result["pipeline"])]
    return "\n".join(out)


def render_pipeline(p: dict[str, Any]) -> str:
    out = [
        f"# Pipeline: read -> encode ({p['encoder']}) -> bulk, {p['docs']} scifact docs, chunks of {p['chunk']}",
        "",
        "Sequential = encode a chunk, then send it (`IngestOptions(overlap=False)`); overlapped = a bulk "
        "thread sends chunk i while the main thread encodes chunk i+1 (queue of 2).",
        "",
        "| mode | docs/s | seconds | of which encoding s |",
        "|---|---|---|---|",
    ]
    out += [
        f"| {m} | {r['docs_per_s']} | {r['seconds']} | {r['encode_s']} |"
        for m in ("sequential", "overlapped")
        for r in p[m]
    ]
    return "\n".join(out)


def render_figure(result: dict[str, Any]) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(11, 3.2))
    rows = result["rows"]
    bulk = [r for r in rows if r["group"] == "bulk_size"]
    axes[0].plot([r["chunk"] for r in bulk], [r["docs_per_s"] for r in bulk], "o-")
    axes[0].set_xscale("log")
    axes[0].set(xlabel="documents per bulk request", ylabel="docs/s", title="bulk size (features)")
    for group, label in (("clients", "pre-encoded"), ("clients_text", "text only")):
        sel = [r for r in rows if r["group"] == group]
        axes[1].plot([r["workers"] for r in sel], [r["docs_per_s"] for r in sel], "o-", label=label)
    axes[1].set(xlabel="parallel ingest processes", title="client concurrency")
    axes[1].legend()
    sh = [r for r in rows if r["group"] == "shards"]
    axes[2].bar([str(r["shards"]) for r in sh], [r["docs_per_s"] for r in sh])
    axes[2].set(xlabel="shards (2 clients)", title="shard count")
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    main()
