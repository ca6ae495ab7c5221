"""The shipped checkpoint folder: complete, fp16, within the 60 MB budget, IDF query weights readable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

CKPT = Path(__file__).resolve().parents[2] / "nail_os" / "checkpoints" / "nail-minilm"


def test_folder_has_every_file_and_fits_the_size_budget():
    names = {p.name for p in CKPT.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "query_weights.json"} <= names
    total = sum(p.stat().st_size for p in CKPT.iterdir())
    assert total <= 60_000_000, f"{CKPT}: {total / 1e6:.1f} MB is over the 60 MB budget"


def test_weights_are_fp16():
    header_len = int.from_bytes((CKPT / "model.safetensors").read_bytes()[:8], "little")
    header = json.loads((CKPT / "model.safetensors").read_bytes()[8 : 8 + header_len])
    dtypes = {v["dtype"] for k, v in header.items() if k != "__metadata__"}
    assert dtypes == {"F16"}, dtypes


def test_query_weights_are_idf_like():
    from nail_os.tokens import Tokenizer

    tok = Tokenizer.from_model_dir(CKPT)
    weights = {t.token: t.weight for t in tok.tokenize_query("the effect of vitamin d on osteoporosis")}
    # IDF over the training corpora: a stop word weighs far less than a rare medical term.
    assert weights["the"] < 0.5 < 3.0 < weights["vitamin"]
    assert all(w > 0 for w in tok.query_weights.values())


def test_model_loads_and_encodes():
    torch = pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from nail_os.model.nail import NailModel

    model = NailModel.from_pretrained(CKPT).eval()
    batch = model.tokenize(["Vitamin D supplementation increases bone mineral density."])
    with torch.no_grad():
        weights = model(**batch)[0]  # shape (V,)
    top = {model.tokenizer.id_to_token(int(i)) for i in weights.topk(10).indices}
    assert {"vitamin", "bone"} & top, top
