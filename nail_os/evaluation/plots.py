"""PNG plots of evaluation results (matplotlib, headless Agg backend). Each returns False when it has
nothing to draw (e.g. no hybrid sweep), True when it wrote the file."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

PLOT_MEASURES: tuple[str, ...] = ("nDCG@10", "R@100", "AP")


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # no display on servers; must be chosen before pyplot is imported
    import matplotlib.pyplot as plt

    return plt


def plot_quality(results: Mapping[str, Any], path: Path) -> bool:
    """Grouped bars: nDCG@10, R@100 and MAP for each mode."""
    plt = _pyplot()
    modes = list(results["quality"])
    fig, ax = plt.subplots(figsize=(7, 4))
    width = 0.8 / len(modes)
    for i, mode in enumerate(modes):
        values = [results["quality"][mode].get(m, 0.0) for m in PLOT_MEASURES]
        xs = [j + i * width for j in range(len(PLOT_MEASURES))]
        bars = ax.bar(xs, values, width, label=mode)
        ax.bar_label(bars, fmt="%.3f", fontsize=7)
    ax.set_xticks([j + width * (len(modes) - 1) / 2 for j in range(len(PLOT_MEASURES))])
    ax.set_xticklabels(["MAP" if m == "AP" else m for m in PLOT_MEASURES])
    ax.set_ylim(0, 1)
    ax.set_title(f"{results['dataset']['name']} ({results['dataset']['split']}), model {results['model']}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def plot_quality_latency(results: Mapping[str, Any], path: Path) -> bool:
    """nDCG@10 against median client latency, one point per timed mode."""
    lat = (results.get("latency") or {}).get("modes", {})
    modes = [m for m in results["quality"] if m in lat]
    if not modes:
        return False
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for mode in modes:
        x = lat[mode]["client_ms"]["p50"]
        y = results["quality"][mode]["nDCG@10"]
        ax.errorbar(x, y, xerr=[[0], [lat[mode]["client_ms"]["p95"] - x]], fmt="o", capsize=3, label=mode)
        ax.annotate(mode, (x, y), textcoords="offset points", xytext=(6, 4), fontsize=8)
    ax.set_xlabel("client latency p50 ms (bar to p95)")
    ax.set_ylabel("nDCG@10")
    ax.set_title(f"{results['dataset']['name']}: quality vs latency")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def plot_sweep(results: Mapping[str, Any], path: Path) -> bool:
    """nDCG@10 of the hybrid against its NAIL weight (log axis), with BM25 and NAIL alone as lines."""
    sweep = results.get("hybrid_sweep") or {}
    if not sweep.get("test"):
        return False
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    xs = [r["nail_weight"] for r in sweep["test"]]
    ax.plot(xs, [r["nDCG@10"] for r in sweep["test"]], "o-", label=f"hybrid, {results['dataset']['split']}")
    if sweep.get("tune"):
        ax.plot(xs, [r["nDCG@10"] for r in sweep["tune"]], "s--", label=f"hybrid, {sweep['tune_split']}")
    for mode, style in (("bm25", ":"), ("nail", "-.")):
        if mode in results["quality"]:
            ax.axhline(results["quality"][mode]["nDCG@10"], linestyle=style, color="gray", label=mode)
    ax.set_xscale("log")
    ax.set_xlabel("NAIL weight (BM25 weight 1)")
    ax.set_ylabel("nDCG@10")
    ax.set_title(f"{results['dataset']['name']}: hybrid weight sweep")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def plot_summary(all_results: Sequence[Mapping[str, Any]], path: Path) -> bool:
    """nDCG@10 per dataset, one bar per mode (modes of the first dataset)."""
    if not all_results:
        return False
    plt = _pyplot()
    modes = list(all_results[0]["quality"])
    names = [r["dataset"]["name"] for r in all_results]
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(names)), 4))
    width = 0.8 / len(modes)
    for i, mode in enumerate(modes):
        values = [r["quality"].get(mode, {}).get("nDCG@10", 0.0) for r in all_results]
        bars = ax.bar([j + i * width for j in range(len(names))], values, width, label=mode)
        ax.bar_label(bars, fmt="%.2f", fontsize=7)
    ax.set_xticks([j + width * (len(modes) - 1) / 2 for j in range(len(names))])
    ax.set_xticklabels(names)
    ax.set_ylabel("nDCG@10")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True
