"""What a training run reports: the selection score on dev sets, the test means, the model's provenance and
the loss plot. Split from `loop.py`, which calls these; none of them trains.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from nail_os.train.config import TrainConfig


def selection_score(dev: dict[str, Any], select_on: str | list[str]) -> float:
    """NAIL nDCG@10 on the validation set `select_on`, or the mean over a list of them (a zero-shot panel)."""
    specs = [select_on] if isinstance(select_on, str) else list(select_on)
    return float(np.mean([dev.get(s, {}).get("nail", {}).get("nDCG@10", 0.0) for s in specs]))


PROVENANCE_FILE = "provenance.json"


def provenance(cfg: TrainConfig) -> dict[str, list[str]]:
    """Which collections the model has seen, and how, so that results are never mixed across kinds:
    "supervised": their qrels trained or selected it; "transductive": their text trained it, without labels;
    any other collection is zero-shot for it."""
    select = [cfg.select_on] if isinstance(cfg.select_on, str) else list(cfg.select_on)
    supervised = set(cfg.stage2.datasets) | {spec.rsplit("/", 1)[0] for spec in select}
    transductive = (set(cfg.stage1_corpora) if cfg.stage1.enabled else set()) | set(cfg.stage2.pseudo_corpora)
    transductive -= supervised
    return {"supervised": sorted(supervised), "transductive": sorted(transductive)}


def mean_table(test: dict[str, dict[str, dict[str, float]]]) -> dict[str, float]:
    """Mean nDCG@10 over test sets for each system (bm25, nail, fused@w)."""
    systems = sorted({s for per in test.values() for s in per})
    return {s: float(np.mean([per[s]["nDCG@10"] for per in test.values() if s in per])) for s in systems}


def plot_losses(steps_file: Path, out: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = [json.loads(line) for line in steps_file.read_text(encoding="utf-8").splitlines() if line.strip()]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for stage in ("stage1", "stage2"):
        rs = [r for r in records if r["stage"] == stage]
        if not rs:
            continue
        x = [r["global_step"] for r in rs]
        axes[0].plot(x, [r["ce"] for r in rs], label=f"{stage} ce")
        if "kd" in rs[0]:
            axes[0].plot(x, [r["kd"] for r in rs], label=f"{stage} kd")
        axes[1].plot(x, [r["flops"] for r in rs], label=f"{stage} flops")
        axes[2].plot(x, [r["doc_nnz"] for r in rs], label=f"{stage} nonzero doc weights")
    for ax, name in zip(axes, ("loss", "FLOPS", "doc tokens > 0"), strict=True):
        ax.set_xlabel("step")
        ax.set_title(name)
        ax.legend()
    axes[1].set_yscale("log")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
