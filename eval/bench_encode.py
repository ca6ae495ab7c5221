"""Document encoding throughput: CPU (the cores we have) and GPU (bf16, SDPA, length-bucketed batches, MFU).

    python eval/bench_encode.py cpu --threads 2                  # here: splade-tiny and NAIL-MiniLM, fp32 / bf16
    python eval/bench_encode.py gpu --model <folder|minilm>      # on the H100 (writes bench_encode_gpu.json)
    python eval/bench_encode.py report                           # here: bench_encode_gpu.{md,png} from those JSONs
    python eval/bench_encode.py --corpus debian-descriptions     # encode a corpus for the other benches

Documents are SciFact abstracts (title + text) truncated at 256 tokens, the model's max_length: mean ~240
tokens, most of them full. MFU = model FLOPs (counted by torch's FlopCounterMode on a real batch: matmuls
and attention) x docs/s / the bf16 dense matmul rate measured on the same GPU (8192^3 GEMMs), so it is
achieved-vs-achievable, not vs the datasheet.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import torch

# On the GPU machine opensearch-py is carried as a wheel (nail_os imports its client); bench_common is only
# needed here, for the CPU and corpus runs.
from nail_os.corpus import read_corpus
from nail_os.model import DocumentEncoder, NailModel, encode_corpus, load_model

MAX_LENGTH = 256  # NailConfig.max_length: tokens read per document
HERE = Path(__file__).resolve().parent
DATA = Path(os.environ.get("NAIL_OS_DATA", HERE.parents[1] / "shared" / "data"))


def texts(n: int) -> list[str]:
    records = list(read_corpus(DATA / "scifact")) if (DATA / "scifact").is_dir() else []
    if not records:  # on the GPU machine, where shared/data does not travel: a carried copy
        records = list(read_corpus(Path(os.environ.get("BENCH_CORPUS", "bench_data/scifact.jsonl"))))
    out = [r.full_text for r in records]
    return (out * (n // max(len(out), 1) + 1))[:n]


def build(model: str, device: str, precision: str, compile_model: bool = False, architecture: str = "nail"
          ) -> DocumentEncoder:
    """splade-tiny / a trained model folder through load_model; "minilm" or "minilm:<folder of the MiniLM
    weights>": an untrained MiniLM of `architecture` (nail or splade pooling), which costs the same FLOPs as
    a trained one."""
    if model.startswith("minilm"):
        source = model.split(":", 1)[1] if ":" in model else "minilm"
        nail = NailModel.from_pretrained_encoder(source, architecture=architecture,  # type: ignore[arg-type]
                                                 max_length=MAX_LENGTH)
        enc = DocumentEncoder(nail, device=device, precision=precision)  # type: ignore[arg-type]
    else:
        enc = load_model(model, device=device, precision=precision, max_length=MAX_LENGTH)
    if compile_model:
        enc.model = torch.compile(enc.model, dynamic=True)
    return enc


def throughput(enc: DocumentEncoder, docs: list[str], batch_size: int, warmup: int) -> dict[str, float]:
    enc.encode_documents(docs[:warmup], batch_size=batch_size)
    if enc.device.type == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    out = enc.encode_documents(docs, batch_size=batch_size)
    if enc.device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    n_tokens = sum(len(e.ids) for e in enc._doc_tokenizer.encode_batch(docs))
    return {
        "docs": len(docs),
        "seconds": seconds,
        "docs_per_s": len(docs) / seconds,
        "tokens_per_doc": n_tokens / len(docs),
        "features_per_doc": sum(map(len, out)) / len(out),
    }


def forward_only(enc: DocumentEncoder, docs: list[str], batch_size: int, reps: int = 20) -> dict[str, float]:
    """The model alone: one fixed batch already on the GPU, forward + top-k, `reps` times, one sync at the
    end. What the GPU can do when the host keeps up; `throughput` minus this is the host's share."""
    from nail_os.model.encode import batch_tensors

    ids = [e.ids for e in enc._doc_tokenizer.encode_batch(docs[:batch_size])]
    batch = batch_tensors(ids, enc.device, enc._pad_id)
    dtype = torch.bfloat16 if enc.device.type == "cuda" else torch.float32

    def step() -> None:
        with torch.inference_mode(), torch.autocast(enc.device.type, dtype=dtype):
            torch.topk(enc.model(**batch).float(), enc.top_k, dim=1)

    for _ in range(3):
        step()
    if enc.device.type == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(reps):
        step()
    if enc.device.type == "cuda":
        torch.cuda.synchronize()
    return {"forward_docs_per_s": reps * len(ids) / (time.perf_counter() - started)}


def flops_per_doc(enc: DocumentEncoder, docs: list[str]) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    from nail_os.model.encode import batch_tensors

    ids = [e.ids for e in enc._doc_tokenizer.encode_batch(docs)]
    batch = batch_tensors(ids, enc.device, enc._pad_id)
    model = getattr(enc.model, "_orig_mod", enc.model)
    # Grad on: the counter's module tracker needs autograd (it fails under inference_mode and no_grad); same FLOPs.
    with FlopCounterMode(display=False) as counter:
        model(**batch)
    return counter.get_total_flops() / len(docs)


def matmul_peak(dtype: torch.dtype = torch.bfloat16, n: int = 8192, reps: int = 50) -> float:
    a, b = torch.randn(n, n, device="cuda", dtype=dtype), torch.randn(n, n, device="cuda", dtype=dtype)
    for _ in range(5):
        a @ b
    torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(reps):
        a @ b
    torch.cuda.synchronize()
    return 2 * n**3 * reps / (time.perf_counter() - started)


def run_cpu(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(HERE))
    from bench_common import machine, write_results

    torch.set_num_threads(args.threads)
    docs = texts(args.docs)
    rows = []
    for model in ("splade-tiny", "minilm"):
        for precision in ("fp32", "bf16"):
            enc = build(model, "cpu", precision)
            torch.set_num_threads(args.threads)
            row = {
                "model": model,
                "precision": precision,
                "threads": args.threads,
                "batch_size": 32,
                **throughput(enc, docs, 32, warmup=32),
            }
            row["gflop_per_doc"] = flops_per_doc(enc, docs[:16]) / 1e9
            rows.append(row)
            print(json.dumps(row), flush=True)
    result = {"device": "cpu", "rows": rows, "machine": machine()}
    md = [
        "# Encode throughput, CPU",
        "",
        f"SciFact documents truncated at {MAX_LENGTH} tokens, batch 32, length-bucketed, torch "
        f"{torch.__version__}, {args.threads} threads. minilm = NAIL-MiniLM (random init: same FLOPs as "
        "trained).",
        "",
        "| model | precision | docs/s | tokens/doc | GFLOP/doc | GFLOP/s |",
        "|---|---|---|---|---|---|",
    ]
    md += [
        f"| {r['model']} | {r['precision']} | {r['docs_per_s']:.1f} | {r['tokens_per_doc']:.0f} | "
        f"{r['gflop_per_doc']:.2f} | {r['gflop_per_doc'] * r['docs_per_s']:.0f} |"
        for r in rows
    ]
    write_results("encode_cpu", result, "\n".join(md))


def run_gpu(args: argparse.Namespace) -> None:
    out = Path(os.environ.get("OUT", "eval/results"))
    device = "cpu" if args.dry_run else "cuda"
    peak = 1e12 if args.dry_run else matmul_peak()
    docs = texts(args.docs)
    rows: list[dict[str, Any]] = []
    # Eager at every batch size, then torch.compile (one dynamic-shape compile, a minute or two) at the best one.
    plans = [(False, b) for b in args.batch_sizes]
    for compile_model, batch_size in plans + ([(True, None)] if args.compile else []):
        if batch_size is None:
            batch_size = max((r for r in rows if not r["compile"]), key=lambda r: r["docs_per_s"])["batch_size"]
        enc = build(args.model, device, "bf16", compile_model, args.architecture)
        try:
            row = throughput(enc, docs, batch_size, warmup=4 * batch_size)
        except Exception as exc:  # noqa: BLE001 - a compile failure must not lose the eager numbers
            print(f"compile={compile_model} batch={batch_size}: {exc!r}"[:500], flush=True)
            continue
        flops = flops_per_doc(enc, docs[:batch_size])
        row.update(forward_only(enc, docs, batch_size, reps=2 if args.dry_run else 20))
        row["forward_mfu"] = flops * row["forward_docs_per_s"] / peak
        row.update(
            model=args.model,
            compile=compile_model,
            batch_size=batch_size,
            gflop_per_doc=flops / 1e9,
            achieved_tflops=flops * row["docs_per_s"] / 1e12,
            mfu=flops * row["docs_per_s"] / peak,
        )
        rows.append(row)
        print(json.dumps(row), flush=True)
    import platform

    result = {
        "device": "cpu (dry run)" if args.dry_run else torch.cuda.get_device_name(),
        "bf16_matmul_peak_tflops": peak / 1e12,
        "rows": rows,
        "torch": torch.__version__,
        "attention": _attention(enc),
        "python": platform.python_version(),
        "command": " ".join(sys.argv),
    }
    (out / "bench_encode_gpu.json").write_text(json.dumps(result, indent=2, default=float))
    print(json.dumps(result, default=float))


def _attention(enc: DocumentEncoder) -> str:
    model = getattr(enc.model, "_orig_mod", enc.model)
    return str(getattr(model.encoder.config, "_attn_implementation", "?"))


# Dense bf16 tensor-core peak from NVIDIA's datasheets (TFLOP/s, without sparsity), by device-name fragment.
DATASHEET_BF16_TFLOPS = {"H200": 989.4, "H100 PCIe": 756.0, "H100 NVL": 835.0, "H100": 989.4, "A100": 312.0}


def datasheet_peak(device: str) -> float | None:
    """The datasheet's dense bf16 peak of the card named `device` (TFLOP/s), None when unknown."""
    return next((v for k, v in DATASHEET_BF16_TFLOPS.items() if k in device), None)


GPU_RUNS = {  # the GPU results brought back from the device machine, by label
    "shipped nail-minilm (pooling)": "bench_encode_gpu_shipped.json",
    "NAIL-MiniLM decoder (untrained)": "bench_encode_gpu_nail.json",
}


def run_report(args: argparse.Namespace) -> None:
    """bench_encode_gpu.{md,png} from the JSON the gpu runs wrote (this CPU machine has matplotlib, the GPU
    machine's results come back as JSON): docs/s against batch size, model alone and the encode call."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sys.path.insert(0, str(HERE))
    from bench_common import RESULTS

    runs = {label: json.loads((RESULTS / name).read_text()) for label, name in GPU_RUNS.items()
            if (RESULTS / name).is_file()}
    md = ["# Encode throughput, GPU", "",
          "bf16, SciFact documents truncated at 256 tokens. *alone*: one batch already on the GPU, forward + top-k, "
          "one sync at the end; *call*: `DocumentEncoder.encode_documents` (tokenize, batches, top-k, copy back, "
          "dicts). MFU against a bf16 8192^3 GEMM on the same card. Analysis: performance.md, section 3. The decoder "
          "rows come from two runs made before the encode call's fixes (64-token widths; the first also before "
          "double-buffering); the shipped model's rows after both.", "",
          "MFU here is against the card's datasheet dense bf16 peak (H100 SXM and H200: 989 TFLOP/s); in brackets "
          "against the measured GEMM rate.", "",
          "| model | compile | batch | alone docs/s | alone MFU | call docs/s | call MFU | call / alone | GFLOP/doc |",
          "|---|---|---|---|---|---|---|---|---|"]
    fig, ax = plt.subplots(figsize=(7, 4))
    for label, result in runs.items():
        rows = [r for r in result["rows"] if "forward_docs_per_s" in r]
        sheet = datasheet_peak(result["device"]) or result["bf16_matmul_peak_tflops"]
        for r in rows:
            flops = r["gflop_per_doc"] * 1e9 / 1e12  # TFLOP per document
            alone, call = flops * r["forward_docs_per_s"] / sheet, flops * r["docs_per_s"] / sheet
            md.append(f"| {label} | {r['compile']} | {r['batch_size']} | {r['forward_docs_per_s']:,.0f} | "
                      f"{alone:.1%} ({r['forward_mfu']:.1%}) | {r['docs_per_s']:,.0f} | {call:.1%} ({r['mfu']:.1%}) | "
                      f"{r['docs_per_s'] / r['forward_docs_per_s']:.0%} | {r['gflop_per_doc']:.1f} |")
        eager = sorted((r for r in rows if not r["compile"]), key=lambda r: r["batch_size"])
        line = ax.plot([r["batch_size"] for r in eager], [r["forward_docs_per_s"] for r in eager], "o-",
                       label=f"{label}: alone")[0]
        ax.plot([r["batch_size"] for r in eager], [r["docs_per_s"] for r in eager], "s--", color=line.get_color(),
                label=f"{label}: encode call")
    device = next(iter(runs.values()))["device"] if runs else "?"
    md += ["", f"Device: {device}; torch {next(iter(runs.values()))['torch'] if runs else '?'}."]
    ax.set(xscale="log", xlabel="batch size", ylabel="docs/s", title=f"Encode throughput, {device}, bf16")
    ax.legend(fontsize=7)
    fig.tight_layout()
    (RESULTS / "bench_encode_gpu.md").write_text("\n".join(md) + "\n", encoding="utf-8")
    fig.savefig(RESULTS / "bench_encode_gpu.png", dpi=120)
    print("\n".join(md))


def run_corpus(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(HERE))
    from bench_common import CACHE

    output = CACHE / f"{args.corpus}.splade-tiny.jsonl"
    report = encode_corpus(
        "splade-tiny",
        DATA / args.corpus,
        output,
        batch_size=64,
        device="cpu",
        precision=args.precision,
        show_progress=True,
    )
    print(f"{report.written} docs in {report.seconds:.0f} s ({report.docs_per_second:.1f} docs/s) -> {output}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("where", nargs="?", choices=("cpu", "gpu", "report"), default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--docs", type=int, default=256)
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--architecture", choices=("nail", "splade"), default="nail",
                        help="of an untrained minilm model (splade: the pooling head, as the shipped model)")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[64, 256, 512])
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--corpus", default=None)
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--dry-run", action="store_true", help="the gpu run on this CPU, to check the script")
    args = parser.parse_args()
    if args.corpus:
        run_corpus(args)
    elif args.where == "gpu":
        run_gpu(args)
    elif args.where == "report":
        run_report(args)
    else:
        run_cpu(args)


if __name__ == "__main__":
    main()
