"""What Ray costs: docs/s of `nail-os encode --ray` against plain `nail-os encode` on the same slice of SciFact.

    python eval/bench_ray.py                                   # here: 2 CPUs, splade-tiny and nail-minilm, 300 docs
    python eval/bench_ray.py --device cuda --docs 20000        # on one GPU: the overhead of Ray (target <= 10%)

Both paths write the same features (see tests/unit/test_distributed.py). Times are wall clock from the call to the
written file, model loading included: plain `encode_corpus` loads the model once; the Ray run (on a Ray started
before the clock, as a cluster would be) plans the blocks, loads the model on the driver for the tokenizer and in
each encoder actor, and joins the parts at the end. `encode` is plain's rate without its model load.
Writes eval/results/bench_ray_<device>.{json,md,png}.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from bench_common import CACHE, DATA, machine, write_results

from nail_os.distributed import RayOptions, encode_corpus_ray
from nail_os.model import encode_corpus


def corpus_slice(docs: int) -> Path:
    """The first `docs` SciFact documents (repeated, with new ids, past its 5,183) as a JSONL file."""
    import json

    lines = (DATA / "scifact" / "corpus.jsonl").read_text(encoding="utf-8").splitlines()
    out = []
    for i in range(docs):
        obj = json.loads(lines[i % len(lines)])
        obj["_id"] = f"{obj['_id']}-{i // len(lines)}" if i >= len(lines) else obj["_id"]
        out.append(json.dumps(obj, ensure_ascii=False))
    path = CACHE / f"scifact-{docs}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    return path


def run(model: str, corpus: Path, device: str, batch_size: int, actors: int | None) -> dict[str, Any]:
    out = CACHE / "bench_ray"
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    plain = encode_corpus(model, corpus, out / "plain.jsonl", batch_size=batch_size, resume=False, device=device,
                          show_progress=False)
    plain_wall = time.perf_counter() - started
    started = time.perf_counter()
    on_ray = encode_corpus_ray(model, corpus, out / "ray.jsonl", batch_size=batch_size, resume=False,
                               show_progress=False, ray_options=RayOptions(actors=actors, device=device))
    ray_wall = time.perf_counter() - started
    same = (out / "plain.jsonl").read_bytes() == (out / "ray.jsonl").read_bytes()
    docs = plain.written
    return {
        "model": model, "docs": docs, "device": device, "batch_size": batch_size,
        "plain_seconds": round(plain_wall, 2), "plain_docs_s": round(docs / plain_wall, 2),
        "plain_encode_docs_s": round(plain.docs_per_second, 2),
        "ray_seconds": round(ray_wall, 2), "ray_docs_s": round(docs / ray_wall, 2), "ray_blocks": on_ray.blocks,
        "ray_overhead_pct": round(100 * (ray_wall / plain_wall - 1), 1), "same_output": same,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=300)
    parser.add_argument("--models", nargs="+", default=["splade-tiny", "nail-minilm"])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--actors", type=int, default=None, help="default: one per GPU, else one CPU actor")
    args = parser.parse_args()

    import ray
    import torch

    ray.init(include_dashboard=False, log_to_driver=False)  # a running cluster: its start is not the run's cost
    corpus = corpus_slice(args.docs)
    rows = []
    for model in args.models:
        rows.append(run(model, corpus, args.device, args.batch_size, args.actors))
        print(rows[-1], file=sys.stderr)
    ray.shutdown()

    env = machine()
    env.update({"ray": ray.__version__, "torch": torch.__version__,
                "gpu": torch.cuda.get_device_name(0) if args.device == "cuda" else None})
    table = ["| model | docs | plain s | plain docs/s (encode only) | --ray s | --ray docs/s | Ray overhead | "
             "same output |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        table.append(f"| {r['model']} | {r['docs']} | {r['plain_seconds']} | {r['plain_docs_s']} "
                     f"({r['plain_encode_docs_s']}) | {r['ray_seconds']} | {r['ray_docs_s']} | "
                     f"{r['ray_overhead_pct']:+.1f}% | {'yes' if r['same_output'] else 'no'} |")
    where = env["gpu"] or f"{env['cpus']} CPUs"
    markdown = (f"# `nail-os encode --ray` vs `nail-os encode` ({args.device}, {where})\n\n"
                f"Wall clock, model loading included, {args.docs} SciFact documents, batch {args.batch_size}; "
                f"Ray {ray.__version__} started before the clock (one encoder actor per GPU, else one on CPU "
                f"with all cores).\n\n" + "\n".join(table))
    figure = None
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        figure, ax = plt.subplots(figsize=(6, 3))
        x = range(len(rows))
        ax.bar([i - 0.2 for i in x], [r["plain_docs_s"] for r in rows], 0.4, label="nail-os encode")
        ax.bar([i + 0.2 for i in x], [r["ray_docs_s"] for r in rows], 0.4, label="nail-os encode --ray")
        ax.set_xticks(list(x), [r["model"] for r in rows])
        ax.set_ylabel("docs/s (wall, model load included)")
        ax.set_title(f"{args.docs} SciFact docs on {where}")
        ax.legend()
    except ImportError:
        pass
    path = write_results(f"ray_{args.device}", {"machine": env, "args": vars(args), "rows": rows}, markdown, figure)
    print(path)


if __name__ == "__main__":
    main()
