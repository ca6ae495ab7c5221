"""Token id lists -> padded tensors: the one step that both the model (`NailModel.tokenize`) and the encoder
(`DocumentEncoder`) take, so it sits below both modules instead of in either.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


def batch_tensors(
    ids: Sequence[Sequence[int]], device: torch.device | str, pad_id: int = 0, multiple: int = 1
) -> dict[str, torch.Tensor]:
    """Right-pad token id lists to the longest, rounded up to `multiple`: `input_ids`, `attention_mask` of shape
    (B, L) on `device`."""
    width = -(-max(len(x) for x in ids) // multiple) * multiple
    input_ids = np.full((len(ids), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(ids), width), dtype=np.int64)
    for row, x in enumerate(ids):
        input_ids[row, : len(x)] = x
        mask[row, : len(x)] = 1
    pin = torch.device(device).type == "cuda"  # pinned host memory: the copy does not wait on queued work
    return {
        name: (t.pin_memory() if pin else t).to(device, non_blocking=True)  # (B, L)
        for name, t in (("input_ids", torch.from_numpy(input_ids)), ("attention_mask", torch.from_numpy(mask)))
    }
