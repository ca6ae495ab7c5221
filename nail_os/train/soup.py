"""Weight averaging of checkpoints fine-tuned from one parent: a uniform "model soup" (Wortsman et al., 2022).

Runs that start from the same trained checkpoint and differ only in seed, data order or learning rate stay in
one basin of the loss, so the mean of their weights is a model of its own: usually as good as the best of
them on held-out data and steadier across collections, at the cost of one model at indexing time.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from nail_os.model._checkpoints import CheckpointError
from nail_os.model.nail import NailModel


def average_checkpoints(folders: Sequence[str | Path], out: str | Path) -> Path:
    """Write the mean of the weights of `folders` (nail-os model folders) to `out`, fp16; return `out`.

    The models must have the same parameters (names and shapes), config, tokenizer and query weights:
    an average of unrelated models is not a model. Config and query weights come from the first folder.
    """
    if len(folders) < 2:
        raise CheckpointError(f"averaging needs at least two model folders, got {len(folders)}")
    first = NailModel.from_pretrained(folders[0])
    total = {k: v.detach().double() for k, v in first.state_dict().items()}
    for folder in folders[1:]:
        other = NailModel.from_pretrained(folder)
        _check_same(first, folders[0], other, folder)
        for key, value in other.state_dict().items():
            total[key] += value.detach().double()
    first.load_state_dict({k: (v / len(folders)).float() for k, v in total.items()})
    return first.save_pretrained(out, dtype=torch.float16)


def _check_same(a: NailModel, a_path: str | Path, b: NailModel, b_path: str | Path) -> None:
    # vocab_head only records how the head was first initialised ("mlm": loaded; "tied": fresh); the
    # parameters are the same either way, and a continued run says "mlm" because it loaded its parent's head.
    config_a, config_b = ({k: v for k, v in m.config.to_dict().items() if k != "vocab_head"} for m in (a, b))
    problems = []
    shapes_a = {k: tuple(v.shape) for k, v in a.state_dict().items()}
    shapes_b = {k: tuple(v.shape) for k, v in b.state_dict().items()}
    if shapes_a != shapes_b:
        problems.append(f"parameters differ: {sorted(set(shapes_a) ^ set(shapes_b))[:3] or 'shapes'}")
    if config_a != config_b:
        problems.append(f"config differs in {sorted(k for k in config_a if config_a[k] != config_b.get(k))}")
    if a.tokenizer_json != b.tokenizer_json:
        problems.append("tokenizer.json differs")
    if (a.query_weights or {}) != (b.query_weights or {}):
        problems.append("query_weights.json differs")
    if problems:
        raise CheckpointError(f"{b_path} cannot be averaged with {a_path}: " + "; ".join(problems))
