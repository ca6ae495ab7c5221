"""The NAIL model and document encoding; torch starts here.

load_model(path)       a model folder (or "splade-tiny") -> DocumentEncoder (a SparseEncoder)
NailModel, NailConfig  the network and its config.json, for training
encode_corpus          a BEIR corpus -> features JSONL, resumable and shardable
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nail_os.model._checkpoints import CheckpointError, read_json, resolve_checkpoint
from nail_os.model.config import ConfigError, NailConfig
from nail_os.model.encode import DocumentEncoder, EncodeReport, encode_corpus
from nail_os.model.nail import NailModel
from nail_os.tokens import Tokenizer

__all__ = [
    "CheckpointError",
    "ConfigError",
    "DocumentEncoder",
    "EncodeReport",
    "NailConfig",
    "NailModel",
    "encode_corpus",
    "load_model",
]


def load_model(path: str | Path, device: str | None = None, **encoder_options: Any) -> DocumentEncoder:
    """A DocumentEncoder for a nail-os model folder, a BertForMaskedLM folder or "splade-tiny".

    A folder whose config.json is a Hugging Face BertForMaskedLM config (splade-tiny, any SPLADE
    checkpoint) is loaded as `architecture="splade"` with its own MLM head. "minilm" is refused: it has
    no trained vocabulary head, so build it with `NailModel.from_pretrained_encoder("minilm")` and train.
    `encoder_options` go to DocumentEncoder (top_k, max_length, num_threads, decimals).

    >>> load_model("splade-tiny").encode_documents(["coffee"])  # doctest: +SKIP
    [{'coffee': 2.6051, ...}]
    """
    if str(path) == "minilm":
        raise CheckpointError(
            '"minilm" has no trained vocabulary head; train one from '
            'NailModel.from_pretrained_encoder("minilm") or load a trained model folder'
        )
    folder = resolve_checkpoint(path)
    raw = read_json(folder / "config.json")
    if NailConfig.is_nail_config(raw):
        model = NailModel.from_pretrained(folder)
        return DocumentEncoder(
            model, tokenizer=Tokenizer.from_model_dir(folder), device=device, **encoder_options
        )
    if "BertForMaskedLM" in (raw.get("architectures") or []):
        model = NailModel.from_pretrained_encoder(folder, architecture="splade", vocab_head="mlm")
        return DocumentEncoder(
            model, tokenizer=Tokenizer.from_model_dir(folder), device=device, **encoder_options
        )
    raise CheckpointError(
        f'{folder}: config.json is neither a nail-os model ("format": "nail-os/1") nor a BertForMaskedLM; '
        'save one with NailModel.save_pretrained, or use "splade-tiny"'
    )
