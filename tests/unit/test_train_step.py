"""A tiny CPU training run: a few optimiser steps on one fixed batch must lower the loss; config parsing."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from nail_os.train.batches import stage2_batches  # noqa: E402
from nail_os.train.config import TrainConfig, TrainConfigError  # noqa: E402
from nail_os.train.data import Pair, Stage2Query  # noqa: E402
from nail_os.train.loop import Trainer  # noqa: E402

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "vitamin", "bone", "density", "coffee", "sleep", "heart",
         "rate", "cancer", "risk", "diet", "fiber", "the", "of", "and", "in"]


def _tiny_model():
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

    from nail_os.model.config import NailConfig
    from nail_os.model.nail import NailModel

    vocab = {t: i for i, t in enumerate(VOCAB)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    encoder = {"vocab_size": len(VOCAB), "hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
               "intermediate_size": 64, "max_position_embeddings": 64, "hidden_dropout_prob": 0.0,
               "attention_probs_dropout_prob": 0.0}
    cfg = NailConfig(architecture="nail", encoder=encoder, num_positions=4, decoder_layers=1, dropout=0.0,
                     top_k=8, max_length=32, special_token_ids=[0, 1, 2, 3, 4])
    return NailModel(cfg, tokenizer_json=tok.to_str())


class _Log:
    def __call__(self, message: str) -> None:
        pass

    def step(self, record: dict) -> None:
        pass


def _trainer() -> Trainer:
    torch.manual_seed(0)
    model = _tiny_model()
    weights = np.ones(len(VOCAB), dtype=np.float32)
    weights[:5] = 0.0
    return Trainer(TrainConfig(), model, weights, torch.device("cpu"), _Log())


def test_stage1_steps_reduce_loss_on_a_fixed_batch():
    trainer = _trainer()
    pairs = [
        Pair("vitamin bone", "vitamin d and bone density", "ict"),
        Pair("coffee sleep", "coffee and sleep in the heart", "ict"),
        Pair("cancer risk", "diet fiber and cancer risk", "crop"),
        Pair("heart rate", "the heart rate of the diet", "crop"),
    ]
    opt = torch.optim.Adam(trainer.model.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):
        parts = trainer.stage1_step(pairs, lam=1e-3)
        opt.zero_grad()
        parts["loss_tensor"].backward()
        opt.step()
        losses.append(float(parts["ce"]))
    assert losses[-1] < 0.5 * losses[0], losses


def test_stage2_step_with_teacher_reduces_loss():
    trainer = _trainer()
    docs = ["vitamin d and bone density", "coffee and sleep", "diet fiber cancer", "heart rate of the heart"]
    queries = [
        Stage2Query("toy", "vitamin bone", [0], [1, 2], teacher=np.array([[0.9, 0.1, 0.2], [9.0, 1.0, 2.0]])),
        Stage2Query("toy", "heart rate", [3], [1, 0], teacher=np.array([[0.8, 0.3, 0.1], [7.0, 2.0, 1.0]])),
    ]
    batch = [(q, [0, 1, 2]) for q in queries]
    teacher_weights = torch.tensor([1.0, 1.0])
    opt = torch.optim.Adam(trainer.model.parameters(), lr=3e-3)
    first = last = None
    for _ in range(30):
        parts = trainer.stage2_step(batch, 1e-3, docs, teacher_weights)
        opt.zero_grad()
        parts["loss_tensor"].backward()
        opt.step()
        first = first if first is not None else float(parts["loss"])
        last = float(parts["loss"])
    assert last < 0.5 * first
    assert "kd" in parts


def test_stage2_batches_are_single_dataset_with_fixed_group_size():
    cfg = TrainConfig()
    cfg.stage2.batch_size = 2
    cfg.stage2.negatives = 3
    queries = [Stage2Query(name, f"q{i}", [i], [10 + i]) for name in ("scifact", "nfcorpus") for i in range(4)]
    batches = stage2_batches(queries, cfg, epoch=0)
    assert batches
    for batch in batches:
        assert len({q.dataset for q, _ in batch}) == 1
        for _query, chosen in batch:
            assert len(chosen) == 4 and chosen[0] == 0  # positive first, negatives repeat when too few


def test_config_rejects_unknown_keys_and_reads_nested(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"name": "x", "stage2": {"epochs": 3, "datasets": {"scifact": {"repeat": 2}}}}))
    cfg = TrainConfig.from_file(path)
    assert cfg.stage2.epochs == 3 and cfg.stage2.datasets["scifact"].repeat == 2
    path.write_text(json.dumps({"nmae": "x", "stage1": {"epoch": 1}}))
    with pytest.raises(TrainConfigError) as err:
        TrainConfig.from_file(path)
    assert '"nmae"' in str(err.value) and '"stage1.epoch"' in str(err.value)


def test_shipped_config_parses():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    for name in ("nail-minilm.json", "nail-minilm-long.json", "nail-decoder-minilm.json", "tiny-cpu.json"):
        cfg = TrainConfig.from_file(root / "configs" / name)
        assert cfg.query_weights == "idf"
    shipped = TrainConfig.from_file(root / "configs" / "nail-minilm.json")
    assert shipped.stage1.enabled and shipped.stage2.enabled and shipped.distill.enabled


def test_progress_goes_to_stderr_and_train_log(tmp_path, capsys):
    """`nail-os train > results.json` keeps stdout for the JSON the command prints at the end."""
    from nail_os.train.loop import Logger

    Logger(tmp_path)("stage1 step 1/2")
    out, err = capsys.readouterr()
    assert out == "" and "stage1 step 1/2" in err
    assert "stage1 step 1/2" in (tmp_path / "train.log").read_text(encoding="utf-8")


def test_heldout_corpus_comes_from_the_config():
    assert TrainConfig().heldout_corpus == "debian-descriptions"
    assert TrainConfig.from_dict({"heldout_corpus": "scifact", "debian_heldout": 5}).heldout_corpus == "scifact"
