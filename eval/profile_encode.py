"""Where an encode batch's time goes on the GPU: a torch.profiler table of the model's CUDA kernels (forward +
top-k at one batch size) and the host's share of `DocumentEncoder.encode_documents` (tokenizing, waiting for
the GPU, building the {token: weight} dicts), timed section by section.

    python eval/profile_encode.py --model nail_os/checkpoints/nail-minilm --corpus scifact/corpus.jsonl

Writes $OUT/profile_encode.json (or eval/results/) and prints both tables.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

from nail_os.corpus import read_corpus
from nail_os.model import load_model
from nail_os.model.encode import batch_tensors


def kernel_table(enc, ids: list[list[int]], reps: int) -> list[dict]:
    batch = batch_tensors(ids, enc.device, enc._pad_id)

    def step() -> None:
        with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16):
            torch.topk(enc.model(**batch).float(), enc.top_k, dim=1)

    for _ in range(3):
        step()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(reps):
            step()
        torch.cuda.synchronize()

    def device_us(e) -> float:  # kernels only (CPU activity is off), so self time is the kernel's time
        return float(getattr(e, "self_device_time_total", 0) or getattr(e, "device_time_total", 0))

    events = [e for e in prof.key_averages() if device_us(e) > 0]
    total = sum(device_us(e) for e in events)
    rows = sorted(events, key=lambda e: -device_us(e))[:15]
    return [
        {
            "kernel": e.key[:90],
            "share": device_us(e) / total,
            "ms_per_batch": device_us(e) / reps / 1e3,
            "calls_per_batch": e.count / reps,
        }
        for e in rows
    ]


def host_split(enc, docs: list[str], batch_size: int) -> dict[str, float]:
    """encode_documents' steps, timed one after the other (no overlap), per document."""
    started = time.perf_counter()
    ids = [e.ids for e in enc._doc_tokenizer.encode_batch(docs)]
    tokenize = time.perf_counter() - started
    gpu = collect = 0.0
    results: list[dict[str, float]] = [{} for _ in docs]
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]), reverse=True)
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        t0 = time.perf_counter()
        launched = enc._launch([ids[i] for i in rows])
        if launched.done is not None:
            launched.done.synchronize()
        t1 = time.perf_counter()
        enc._collect(rows, launched, results)
        gpu, collect = gpu + t1 - t0, collect + time.perf_counter() - t1
    n = len(docs)
    return {
        "docs": n,
        "tokenize_ms_per_doc": 1e3 * tokenize / n,
        "launch_and_wait_ms_per_doc": 1e3 * gpu / n,
        "dicts_ms_per_doc": 1e3 * collect / n,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="nail-minilm")
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--docs", type=int, default=8192)
    ap.add_argument("--batch-size", type=int, default=512)
    ap.add_argument("--reps", type=int, default=10)
    args = ap.parse_args()
    enc = load_model(args.model, device="cuda", precision="bf16")
    docs = [r.full_text for r in read_corpus(args.corpus)]
    docs = (docs * (args.docs // len(docs) + 1))[: args.docs]
    ids = [e.ids for e in enc._doc_tokenizer.encode_batch(docs[: args.batch_size])]
    result = {
        "model": args.model,
        "batch_size": args.batch_size,
        "gpu": torch.cuda.get_device_name(),
        "torch": torch.__version__,
        "kernels": kernel_table(enc, ids, args.reps),
        "host": host_split(enc, docs, args.batch_size),
        "cpus": os.cpu_count(),
    }
    out = Path(os.environ.get("OUT", "eval/results"))
    (out / "profile_encode.json").write_text(json.dumps(result, indent=2))
    for row in result["kernels"]:
        print(f"{row['share']:6.1%} {row['ms_per_batch']:8.2f} ms x{row['calls_per_batch']:5.0f}  {row['kernel']}")
    print(json.dumps(result["host"]))


if __name__ == "__main__":
    main()
