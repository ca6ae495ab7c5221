"""The NAIL document model: a BERT encoder, a non-autoregressive decoder and a vocabulary head.

NAIL (Soares, Gillick, Cole and Kwiatkowski, "NAIL: Lexical Retrieval Indices with Efficient
Non-Autoregressive Decoders", EMNLP 2023, arXiv 2305.14499) reads a document with a pretrained encoder;
`num_positions` learned query vectors then pass through a few transformer decoder layers, all positions in
one parallel step (self-attention among positions with no causal mask, cross-attention to the encoder
output). With `decoder_init="encoder"` the decoder is pretrained too: the top layers of the pretrained
encoder become its layers (`warm_start_decoder`). A vocabulary head scores every token at every
position; the document representation is the max over positions of log(1 + relu(score)), the SPLADE
activation (Formal et al., arXiv 2107.05720). Queries are only tokenized, so retrieval needs no model.

`architecture="splade"` drops the decoder and max-pools the head over the input positions instead: the
pooling-only ablation, and how splade-tiny (a BertForMaskedLM) is loaded unchanged.

Just over 400 lines: `NailModel` (the forward pass, loading and saving) is one class; the helpers below it
(warm-starting the decoder, tokenizers) only serve it.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from nail_os.model._checkpoints import (
    CheckpointError,
    load_safetensors,
    map_pretrained_keys,
    read_json,
    resolve_checkpoint,
)
from nail_os.model.batching import batch_tensors
from nail_os.model.config import ConfigError, NailConfig, bert_config_dict
from nail_os.tokens import QUERY_WEIGHTS_FILE, TOKENIZER_FILE, Tokenizer

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"

# Without grad, the head is applied to this many positions at a time: splade over 256 input positions
# would otherwise hold a (batch, 256, 30522) fp32 tensor, 1 GB at batch 32, for one max.
_INFERENCE_POSITION_CHUNK = 64


class VocabHead(nn.Module):
    """BERT's MLM head with the projection tied to the encoder's word embeddings.

    dense -> activation -> LayerNorm -> x @ E^T + bias. Parameter names match `cls.predictions.*` of
    BertForMaskedLM after `map_pretrained_keys`, so an MLM head loads as-is. The projection E is passed
    in, not held, so the state dict has no shared tensors (safetensors refuses those).
    """

    def __init__(self, hidden_size: int, vocab_size: int, hidden_act: str, layer_norm_eps: float) -> None:
        super().__init__()
        from transformers.activations import ACT2FN

        self.transform = nn.Module()
        self.transform.dense = nn.Linear(hidden_size, hidden_size)
        self.transform.LayerNorm = nn.LayerNorm(hidden_size, eps=layer_norm_eps)
        self.act = ACT2FN[hidden_act]
        self.bias = nn.Parameter(torch.zeros(vocab_size))

    def forward(self, hidden: torch.Tensor, embeddings: torch.Tensor) -> torch.Tensor:
        h = self.transform.LayerNorm(self.act(self.transform.dense(hidden)))  # shape (..., H)
        return nn.functional.linear(h, embeddings, self.bias)  # shape (..., V)


class NailModel(nn.Module):
    """Documents -> one non-negative score per vocabulary token, shape (batch, vocab_size).

    Build a fresh model from a pretrained encoder with `from_pretrained_encoder`, load a saved one with
    `from_pretrained`. `forward` is what training differentiates; top-k and `{token: weight}` dicts are
    `nail_os.model.encode.DocumentEncoder`'s job.

    >>> model = NailModel.from_pretrained_encoder("splade-tiny", num_positions=8)  # doctest: +SKIP
    >>> batch = model.tokenize(["NAIL is inference-free."])  # doctest: +SKIP
    >>> model(**batch).shape  # doctest: +SKIP
    torch.Size([1, 30522])
    """

    def __init__(
        self,
        config: NailConfig,
        *,
        tokenizer_json: str | None = None,
        query_weights: dict[int, float] | None = None,
    ) -> None:
        super().__init__()
        from transformers import BertConfig, BertModel

        self.config = config
        self.tokenizer_json = tokenizer_json
        self.query_weights = query_weights
        enc = config.encoder
        hidden, init_std = config.hidden_size, float(enc.get("initializer_range", 0.02))
        eps = float(enc.get("layer_norm_eps", 1e-12))
        self.encoder = BertModel(BertConfig(**enc), add_pooling_layer=False)
        if config.architecture == "nail":
            # The decoder's inputs: one learned vector per output position (BERT's init scale).
            self.position_embeddings = nn.Parameter(torch.randn(config.num_positions, hidden) * init_std)
            warm = config.decoder_init == "encoder"
            layer = nn.TransformerDecoderLayer(
                d_model=hidden,
                nhead=config.decoder_heads,
                dim_feedforward=config.decoder_ffn,
                dropout=config.dropout,
                activation=enc.get("hidden_act", "gelu"),
                batch_first=True,
                layer_norm_eps=eps,
                # pre-LN trains stably from a random init, and a final norm closes the stack; layers copied
                # from BERT keep BERT's post-LN order, whose last LayerNorm already closes each layer.
                norm_first=not warm,
            )
            self.decoder = nn.TransformerDecoder(
                layer, config.decoder_layers, norm=None if warm else nn.LayerNorm(hidden, eps=eps)
            )
        self.head = VocabHead(hidden, config.vocab_size, enc.get("hidden_act", "gelu"), eps)
        nn.init.normal_(self.head.transform.dense.weight, std=init_std)
        nn.init.zeros_(self.head.transform.dense.bias)
        special = torch.zeros(config.vocab_size, dtype=torch.bool)
        special[config.special_token_ids] = True
        self.register_buffer("special_mask", special, persistent=False)  # shape (V,)

    # ------------------------------------------------------------------ forward
    def position_states(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The states the head scores, shape (B, P, H), and which of them count, shape (B, P) or None.

        nail: the decoder's `num_positions` outputs, all valid. splade: the encoder's input positions,
        valid where `attention_mask` is 1.
        """
        memory = self.encoder(
            input_ids=input_ids, attention_mask=attention_mask
        ).last_hidden_state  # (B, L, H)
        if self.config.architecture == "splade":
            return memory, attention_mask.bool()
        queries = self.position_embeddings.unsqueeze(0).expand(input_ids.shape[0], -1, -1)  # (B, P, H)
        # No tgt_mask: every position sees every other one, so all are produced in one parallel step.
        states = self.decoder(
            queries.to(memory.dtype), memory, memory_key_padding_mask=attention_mask == 0
        )  # (B, P, H)
        return states, None

    def vocab_logits(self, states: torch.Tensor) -> torch.Tensor:
        """Head scores before activation and pooling: (..., H) -> (..., V)."""
        return self.head(states, self.encoder.embeddings.word_embeddings.weight)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """max over positions of log1p(relu(logits)), special tokens zeroed: shape (B, V), >= 0, no top-k.

        The max is taken before the activation: log1p(relu(.)) is monotone, so the value is the same,
        the gradient reaches the same arg-max position, and the activation runs on (B, V) not (B, P, V).
        """
        states, valid = self.position_states(input_ids, attention_mask)  # (B, P, H), (B, P) | None
        if valid is not None:
            # A padded position takes the state of the row's first real one: a duplicate cannot change a
            # max, and this costs a (B, P, H) copy where masking the logits would cost (B, P, V).
            first = valid.int().argmax(dim=1)  # (B,)
            fill = states[torch.arange(states.shape[0], device=states.device), first]  # (B, H)
            states = torch.where(valid[..., None], states, fill[:, None, :])  # (B, P, H)
        chunk = states.shape[1] if torch.is_grad_enabled() else _INFERENCE_POSITION_CHUNK
        best: torch.Tensor | None = None
        for start in range(0, states.shape[1], chunk):
            top = self.vocab_logits(states[:, start : start + chunk]).amax(dim=1)  # (B, c, V) -> (B, V)
            best = top if best is None else torch.maximum(best, top)
        assert best is not None  # states has at least one position ([CLS] or num_positions >= 1)
        return torch.log1p(torch.relu(best)).masked_fill(self.special_mask, 0.0)  # (B, V)

    # ------------------------------------------------------------------ helpers
    def tokenize(self, texts: list[str], max_length: int | None = None) -> dict[str, torch.Tensor]:
        """Right-padded `input_ids` and `attention_mask` (B, L) for `texts`, truncated to `max_length`."""
        if self.tokenizer_json is None:
            raise CheckpointError("this NailModel was built without a tokenizer.json")
        tok = document_tokenizer(self.tokenizer_json, max_length or self.config.max_length)
        return batch_tensors([e.ids for e in tok.encode_batch(list(texts))], device=self.special_mask.device)

    @property
    def tokenizer(self) -> Tokenizer:
        """The query-side tokenizer (with query weights) this model was built with."""
        if self.tokenizer_json is None:
            raise CheckpointError("this NailModel was built without a tokenizer.json")
        return Tokenizer(hf=_hf_tokenizer(self.tokenizer_json), query_weights=dict(self.query_weights or {}))

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    # ------------------------------------------------------------------ building, saving, loading
    @classmethod
    def from_pretrained_encoder(
        cls, name_or_path: str | Path, architecture: Literal["nail", "splade"] = "nail", **overrides: Any
    ) -> NailModel:
        """A new model whose encoder (and MLM head, where the checkpoint has one) are pretrained.

        Args:
            name_or_path: "minilm" or "splade-tiny" (weights from their pip packages), a Hugging Face BERT
                folder (config.json + model.safetensors + tokenizer.json) or a nail-os model folder (its
                encoder and head are reused; its decoder is not).
            architecture: "nail" or "splade".
            **overrides: any NailConfig field (num_positions, decoder_layers, top_k, max_length, ...);
                `encoder={...}` updates single BertConfig keys, e.g. dropout.
                vocab_head defaults to "mlm" when the checkpoint has an MLM head, else "tied".
        """
        folder = resolve_checkpoint(name_or_path)
        raw = read_json(folder / CONFIG_FILE)
        tok_file = folder / TOKENIZER_FILE
        if not tok_file.is_file():
            raise CheckpointError(f"{tok_file}: missing; the model folder needs the encoder's tokenizer.json")
        tokenizer_json = tok_file.read_bytes().decode("utf-8")
        state = map_pretrained_keys(load_safetensors(folder))
        if NailConfig.is_nail_config(raw):
            base = NailConfig.from_dict(raw)
            encoder, special = dict(base.encoder), base.special_token_ids
        else:
            encoder = bert_config_dict(raw)
            special = sorted(Tokenizer(hf=_hf_tokenizer(tokenizer_json)).special_ids)
        encoder.update(overrides.pop("encoder", {}))
        has_mlm = "head.transform.dense.weight" in state
        overrides.setdefault("vocab_head", "mlm" if has_mlm else "tied")
        unknown = sorted(set(overrides) - {f.name for f in dataclasses.fields(NailConfig)})
        if unknown:
            raise ConfigError(f"unknown NailConfig overrides {unknown}; see NailConfig's fields")
        config = NailConfig(
            architecture=architecture, encoder=encoder, special_token_ids=special, **overrides
        )
        warm = config.architecture == "nail" and config.decoder_init == "encoder"
        if warm:  # the top layers move to the decoder: the encoder keeps the ones below
            total = int(encoder["num_hidden_layers"])
            if not 1 <= config.decoder_layers < total:
                raise ConfigError(f"decoder_init encoder takes decoder_layers from the encoder's {total} layers: "
                                  f"decoder_layers {config.decoder_layers} must be 1..{total - 1}")
            config.encoder = {**encoder, "num_hidden_layers": total - config.decoder_layers}
        if config.vocab_head == "mlm" and not has_mlm:
            raise CheckpointError(
                f'{folder}: vocab_head="mlm" but the checkpoint has no MLM head; use "tied"'
            )
        model = cls(config, tokenizer_json=tokenizer_json)
        wanted = ("encoder.", "head.") if config.vocab_head == "mlm" else ("encoder.",)
        load = {k: v for k, v in state.items() if k.startswith(wanted)}
        if warm:
            kept = config.encoder["num_hidden_layers"]
            moved = {k: v for k, v in load.items() if _layer_index(k) is not None and _layer_index(k) >= kept}
            load = {k: v for k, v in load.items() if k not in moved}
        missing, unexpected = model.load_state_dict(load, strict=False)
        missing = [k for k in missing if k.startswith(wanted)]
        if missing or unexpected:
            raise CheckpointError(
                f"{folder}: weights do not fit a BERT encoder of this config: missing {missing[:5]} "
                f"({len(missing)}), unexpected {unexpected[:5]} ({len(unexpected)})"
            )
        if warm:
            warm_start_decoder(model, moved)
        return model

    def save_pretrained(
        self,
        path: str | Path,
        dtype: torch.dtype = torch.float16,
        query_weights: dict[int, float] | None = None,
    ) -> Path:
        """Write config.json, model.safetensors (in `dtype`), tokenizer.json and query_weights.json.

        `query_weights` ({token_id: weight}) replace the model's own; without either, an existing
        query_weights.json in `path` is left in place. fp16 save -> load -> save is byte-identical.
        """
        from safetensors.torch import save_file

        if self.tokenizer_json is None:
            raise CheckpointError(f"{path}: cannot save a NailModel built without tokenizer.json")
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        if query_weights is not None:
            self.query_weights = {int(k): float(v) for k, v in query_weights.items()}
        state = {k: v.detach().to("cpu", dtype).contiguous() for k, v in self.state_dict().items()}
        save_file(state, str(path / WEIGHTS_FILE), metadata={"format": "pt"})
        config_text = _dump_config(self.config.to_dict())
        (path / CONFIG_FILE).write_text(config_text, encoding="utf-8")
        (path / TOKENIZER_FILE).write_bytes(self.tokenizer_json.encode("utf-8"))
        if self.query_weights:
            weights = {str(k): self.query_weights[k] for k in sorted(self.query_weights)}
            (path / QUERY_WEIGHTS_FILE).write_text(json.dumps(weights) + "\n", encoding="utf-8")
        return path

    @classmethod
    def from_pretrained(
        cls, path: str | Path, *, device: str | torch.device | None = None, dtype: torch.dtype = torch.float32
    ) -> NailModel:
        """Load a folder written by `save_pretrained` (weights are cast to `dtype`, fp32 by default)."""
        path = Path(path)
        raw = read_json(path / CONFIG_FILE) if (path / CONFIG_FILE).is_file() else {}
        if not NailConfig.is_nail_config(raw):
            raise CheckpointError(
                f'{path}: not a nail-os model folder (config.json without "format": "nail-os/1"); '
                "for a Hugging Face BERT folder use NailModel.from_pretrained_encoder"
            )
        tok_file = path / TOKENIZER_FILE
        if not tok_file.is_file():
            raise CheckpointError(f"{tok_file}: missing; save_pretrained writes it beside config.json")
        weights_file = path / QUERY_WEIGHTS_FILE
        query_weights = None
        if weights_file.is_file():
            query_weights = {int(k): float(v) for k, v in read_json(weights_file).items()}
        try:
            config = NailConfig.from_dict(raw)
        except ConfigError as exc:
            raise CheckpointError(f"{path / CONFIG_FILE}: {exc}") from exc
        model = cls(
            config,
            tokenizer_json=tok_file.read_bytes().decode("utf-8"),
            query_weights=query_weights,
        )
        try:
            model.load_state_dict(load_safetensors(path), strict=True)
        except RuntimeError as exc:
            raise CheckpointError(f"{path / WEIGHTS_FILE}: does not match its config.json: {exc}") from exc
        return model.to(device=device, dtype=dtype)


_LAYER = re.compile(r"^encoder\.encoder\.layer\.(\d+)\.")


def _layer_index(key: str) -> int | None:
    match = _LAYER.match(key)
    return int(match.group(1)) if match else None


# Where the position queries start: BERT's vocabulary lists word pieces by frequency from id 1996 ("the") on;
# every 16th of them gives `num_positions` distinct frequent words.
_FIRST_WORD_ID, _WORD_STRIDE = 1996, 16


@torch.no_grad()
def warm_start_decoder(model: NailModel, moved: dict[str, torch.Tensor]) -> None:
    """Copy the encoder layers in `moved` (state-dict keys `encoder.encoder.layer.N.*`, N above the kept ones)
    into the decoder, and start the position queries where a real token's states would be.

    A BERT layer is post-LN self-attention then feed-forward. A decoder layer adds cross-attention between the
    two; it starts as a copy of the self-attention (query, key, value and output projections and its
    LayerNorm), so at first each position reads the document the way a token of it would read its neighbours.
    The position queries start as the kept encoder's states of frequent words (one sequence "[CLS] w1 .. wP
    [SEP]"), the inputs the copied layers saw in pretraining; the positions differ, so their maxima do too.
    """
    first = min(_layer_index(k) for k in moved)  # type: ignore[type-var]
    for i, layer in enumerate(model.decoder.layers):
        src = {k.split(f"layer.{first + i}.", 1)[1]: v for k, v in moved.items() if _layer_index(k) == first + i}
        qkv_w = torch.cat([src[f"attention.self.{p}.weight"] for p in ("query", "key", "value")])
        qkv_b = torch.cat([src[f"attention.self.{p}.bias"] for p in ("query", "key", "value")])
        for attn, norm in ((layer.self_attn, layer.norm1), (layer.multihead_attn, layer.norm2)):
            attn.in_proj_weight.copy_(qkv_w)
            attn.in_proj_bias.copy_(qkv_b)
            attn.out_proj.weight.copy_(src["attention.output.dense.weight"])
            attn.out_proj.bias.copy_(src["attention.output.dense.bias"])
            norm.weight.copy_(src["attention.output.LayerNorm.weight"])
            norm.bias.copy_(src["attention.output.LayerNorm.bias"])
        layer.linear1.weight.copy_(src["intermediate.dense.weight"])
        layer.linear1.bias.copy_(src["intermediate.dense.bias"])
        layer.linear2.weight.copy_(src["output.dense.weight"])
        layer.linear2.bias.copy_(src["output.dense.bias"])
        layer.norm3.weight.copy_(src["output.LayerNorm.weight"])
        layer.norm3.bias.copy_(src["output.LayerNorm.bias"])
    count = model.config.num_positions
    words = [_FIRST_WORD_ID + _WORD_STRIDE * i for i in range(count)]
    cls_id, sep_id = _special_id(model, "[CLS]", 101), _special_id(model, "[SEP]", 102)
    ids = torch.tensor([[cls_id, *words, sep_id]], device=model.position_embeddings.device)
    was_training = model.training
    model.eval()
    states = model.encoder(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state[0, 1:-1]
    model.train(was_training)
    model.position_embeddings.copy_(states)


def _special_id(model: NailModel, token: str, default: int) -> int:
    if model.tokenizer_json is None:
        return default
    found = _hf_tokenizer(model.tokenizer_json).token_to_id(token)
    return default if found is None else int(found)


def _dump_config(data: dict[str, Any]) -> str:
    """Indented, key-sorted JSON with integer lists on one line (special_token_ids holds ~1000 ids)."""
    text = json.dumps(data, indent=2, sort_keys=True)
    return (
        re.sub(
            r"\[([\d\s,]+)\]", lambda m: "[" + ", ".join(m.group(1).split()).replace(",,", ",") + "]", text
        )
        + "\n"
    )


@functools.lru_cache(maxsize=4)
def document_tokenizer(tokenizer_json: str, max_length: int):  # -> tokenizers.Tokenizer
    """The model's tokenizer set for documents: [CLS] ... [SEP], truncated to `max_length`, never padded.

    all-MiniLM-L6-v2's tokenizer.json pads to a fixed 128 and truncates at 128; both are reset here. Parsing
    tokenizer.json takes ~20 ms, so a training loop reuses one per (model, length): the tokenizer returned is
    shared, and its settings must not be changed.
    """
    tok = _hf_tokenizer(tokenizer_json)
    tok.no_padding()
    tok.enable_truncation(max_length)
    return tok


def _hf_tokenizer(tokenizer_json: str):  # -> tokenizers.Tokenizer
    from tokenizers import Tokenizer as HFTokenizer

    return HFTokenizer.from_str(tokenizer_json)
