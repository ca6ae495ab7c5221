"""Markdown ablation table from training runs' results.json files (written by `nail-os train`).

    python eval/train/ablation_table.py eval/results/training/*/results.json > table.md

Columns: dev nDCG@10 of the selected epoch (nfcorpus dev, Debian held-out synopses), then test nDCG@10 per
dataset for the model alone, and the mean of BM25 / model / hybrid at the hybrid weight chosen on nfcorpus dev.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

TESTS = ["scifact/test", "nfcorpus/test", "cranfield/test", "cacm/test", "medline/test"]


def best_hybrid(dev: dict) -> str:
    """The hybrid weight with the best nfcorpus dev nDCG@10 at the last dev evaluation."""
    last = dev[sorted(dev, key=lambda t: (t != "stage1", t))[-1]]["nfcorpus/dev"]
    keys = [k for k in last if k.startswith(("fused@", "hybrid@"))]  # hybrid@: results written before issue 18
    return max(keys, key=lambda k: last[k]["nDCG@10"])


def row(path: Path) -> str:
    r = json.loads(path.read_text())
    dev_tags = sorted(r["dev"], key=lambda t: (t != "stage1", t))
    sel = r.get("selected_epoch")
    tag = f"stage2-epoch{sel}" if sel else dev_tags[-1]
    dev = r["dev"].get(tag, r["dev"][dev_tags[-1]])
    hyb = best_hybrid(r["dev"])
    cells = [r["config"], f"{dev['nfcorpus/dev']['nail']['nDCG@10']:.4f}",
             f"{dev.get('debian-descriptions/heldout', {}).get('nail', {}).get('nDCG@10', float('nan')):.4f}"]
    cells += [f"{r['test'][t]['nail']['nDCG@10']:.4f}" for t in TESTS]
    mean = r["test_mean"]
    cells += [f"{mean['bm25']:.4f}", f"**{mean['nail']:.4f}**", f"{mean[hyb]:.4f} ({hyb})"]
    return "| " + " | ".join(cells) + " |"


def main(paths: list[str]) -> None:
    head = ["run", "dev nfcorpus", "dev debian", *[t.split("/")[0] for t in TESTS], "BM25 mean", "model mean",
            "hybrid mean (w_bm25)"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for p in paths:
        print(row(Path(p)))


if __name__ == "__main__":
    main(sys.argv[1:])
