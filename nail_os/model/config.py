"""What a model folder's config.json says: the architecture, the BERT encoder and the sparse output.

The file describes the model completely (sentence-transformers `models/Module.py` style), so loading needs
no hub access and no other file than model.safetensors and tokenizer.json beside it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

from nail_os.errors import NailOSError

# Written into config.json so that a folder of ours is told apart from a Hugging Face checkpoint folder.
FORMAT = "nail-os/1"

# The BertConfig keys we keep: enough to rebuild BertModel on transformers 4.40-5.x. Version-specific keys
# (dtype, transformers_version, architectures...) are dropped so that save -> load -> save is byte-identical.
BERT_KEYS = (
    "vocab_size",
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "intermediate_size",
    "hidden_act",
    "hidden_dropout_prob",
    "attention_probs_dropout_prob",
    "max_position_embeddings",
    "type_vocab_size",
    "initializer_range",
    "layer_norm_eps",
    "pad_token_id",
)


# What only architecture "nail" reads.
DECODER_FIELDS = ("num_positions", "decoder_layers", "decoder_heads", "decoder_ffn", "dropout", "decoder_init")


class ConfigError(NailOSError, ValueError):
    """A model config is inconsistent or names an unknown value."""


@dataclass
class NailConfig:
    """The NAIL model (arXiv 2305.14499) or its SPLADE-style pooling ablation.

    Args:
        architecture: "nail": `num_positions` learned queries go through a non-autoregressive decoder that
            cross-attends to the encoder; "splade": no decoder, the vocabulary head reads every input
            position (the ablation, and how splade-tiny is loaded as-is).
        encoder: the BertConfig dict of the document encoder (see `BERT_KEYS`).
        num_positions: decoder output positions; each scores the whole vocabulary, then max-pooled.
        decoder_layers: transformer decoder layers (self-attention among positions + cross-attention).
        decoder_heads: attention heads in the decoder; 0 means the encoder's `num_attention_heads`.
        decoder_ffn: feed-forward width in the decoder; 0 means the encoder's `intermediate_size`.
        dropout: dropout inside the decoder (the encoder keeps its own from `encoder`).
        decoder_init: "random": pre-LN decoder layers from a random init, on top of the whole encoder;
            "encoder": the pretrained encoder is split, its top `decoder_layers` layers become post-LN decoder
            layers that keep their self-attention and feed-forward weights, with cross-attention initialised
            from the same self-attention (NAIL's decoder is pretrained too); `encoder` then holds the lower
            layers only.
        top_k: tokens kept per document at encoding time (training sees all of them).
        top_k_per_token: length-aware top-k: a document of n tokens keeps at most max(`min_top_k`, n × this)
            of its `top_k` (0: always `top_k`); see `DocumentEncoder`.
        min_top_k: the floor of the length-aware top-k.
        max_length: tokens read per document, [CLS] and [SEP] included.
        vocab_head: "mlm": the checkpoint's own BERT MLM head was loaded; "tied": a fresh dense + GELU +
            LayerNorm transform and bias, projected with the encoder's word embeddings.
        special_token_ids: vocabulary ids never output ([CLS], [SEP], [PAD], [UNK], [MASK], [unused*]).

    >>> cfg = NailConfig(encoder={"hidden_size": 384, "num_attention_heads": 12, "vocab_size": 30522})
    >>> cfg.decoder_heads, NailConfig.from_dict(cfg.to_dict()) == cfg
    (12, True)
    """

    architecture: Literal["nail", "splade"] = "nail"
    encoder: dict[str, Any] = field(default_factory=dict)
    num_positions: int = 16
    decoder_layers: int = 2
    decoder_heads: int = 0
    decoder_ffn: int = 0
    dropout: float = 0.1
    decoder_init: Literal["random", "encoder"] = "random"
    top_k: int = 256
    top_k_per_token: float = 0.0
    min_top_k: int = 32
    max_length: int = 256
    vocab_head: Literal["tied", "mlm"] = "tied"
    special_token_ids: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.decoder_heads:
            self.decoder_heads = int(self.encoder.get("num_attention_heads", 0))
        if not self.decoder_ffn:
            self.decoder_ffn = int(self.encoder.get("intermediate_size", 0) or 4 * self.hidden_size)
        self.special_token_ids = sorted({int(i) for i in self.special_token_ids})
        self.validate()

    @property
    def hidden_size(self) -> int:
        return int(self.encoder.get("hidden_size", 0))

    @property
    def vocab_size(self) -> int:
        return int(self.encoder.get("vocab_size", 0))

    def validate(self) -> None:
        """Raise ConfigError listing every problem at once."""
        problems = []
        if self.architecture not in ("nail", "splade"):
            problems.append(f'architecture "{self.architecture}" is not "nail" or "splade"')
        if self.decoder_init not in ("random", "encoder"):
            problems.append(f'decoder_init "{self.decoder_init}" is not "random" or "encoder"')
        if self.vocab_head not in ("tied", "mlm"):
            problems.append(f'vocab_head "{self.vocab_head}" is not "tied" or "mlm"')
        if self.top_k_per_token < 0:
            problems.append(f"top_k_per_token is {self.top_k_per_token}; it must be >= 0 (0: off)")
        for name in ("top_k", "max_length", "min_top_k"):
            if getattr(self, name) < 1:
                problems.append(f"{name} is {getattr(self, name)}; it must be >= 1")
        if self.hidden_size and self.max_length > int(self.encoder.get("max_position_embeddings", 512)):
            problems.append(
                f"max_length {self.max_length} exceeds the encoder's max_position_embeddings "
                f"{self.encoder.get('max_position_embeddings')}"
            )
        if self.architecture == "nail":
            if self.num_positions < 1 or self.decoder_layers < 1:
                problems.append(
                    f"num_positions {self.num_positions} and decoder_layers {self.decoder_layers} "
                    "must both be >= 1 for architecture nail"
                )
            if self.hidden_size and (self.decoder_heads < 1 or self.hidden_size % self.decoder_heads):
                problems.append(
                    f"decoder_heads {self.decoder_heads} must divide the encoder's "
                    f"hidden_size {self.hidden_size}"
                )
        if problems:
            raise ConfigError("invalid NailConfig: " + "; ".join(problems))

    def to_dict(self) -> dict[str, Any]:
        """The config.json contents; a pooling model ("splade") has no decoder, so no decoder fields are written."""
        data = asdict(self)
        if self.architecture == "splade":
            for name in DECODER_FIELDS:
                data.pop(name)
        return {"format": FORMAT, **data}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NailConfig:
        """Inverse of `to_dict`; unknown keys are an error so that a typo in a hand-edited file shows."""
        data = dict(data)
        fmt = data.pop("format", FORMAT)
        if fmt != FORMAT:
            raise ConfigError(f'config format "{fmt}" is not "{FORMAT}"; this nail-os cannot read it')
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown NailConfig keys {unknown}; known keys are {sorted(known)}")
        return cls(**data)

    @staticmethod
    def is_nail_config(data: dict[str, Any]) -> bool:
        """Whether a parsed config.json is one of ours (rather than a Hugging Face BertConfig)."""
        return str(data.get("format", "")).startswith("nail-os/")


def bert_config_dict(hf_config: dict[str, Any]) -> dict[str, Any]:
    """The `BERT_KEYS` subset of a Hugging Face config.json, with BertConfig's defaults for missing keys."""
    if hf_config.get("model_type", "bert") != "bert":
        raise ConfigError(
            f'model_type "{hf_config.get("model_type")}" is not "bert"; nail-os builds BERT encoders only'
        )
    from transformers import BertConfig

    default = BertConfig().to_dict()
    return {k: hf_config.get(k, default[k]) for k in BERT_KEYS}
