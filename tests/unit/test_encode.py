"""DocumentEncoder and encode_corpus: the `{token: weight}` contract, batching, resume and shards."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from nail_os.cli.encode import encode
from nail_os.corpus import CorpusError
from nail_os.encoders import SparseEncoder
from nail_os.model import CheckpointError, DocumentEncoder, NailModel, encode_corpus, load_model

TEXTS = [
    "Coffee beans are roasted before they are ground.",
    "Microstructural development of human newborn cerebral white matter assessed in vivo by diffusion "
    "tensor magnetic resonance imaging. " * 3,
    "BRCA1 mutations raise the risk of breast cancer.",
    "",
    "A",
    "The quick brown fox jumps over the lazy dog.",
    "Vitamin D deficiency is associated with a higher risk of respiratory infections in children.",
]


@pytest.fixture(scope="module")
def splade() -> DocumentEncoder:
    return load_model("splade-tiny", device="cpu")


@pytest.fixture(scope="module")
def nail() -> DocumentEncoder:
    torch.manual_seed(0)
    model = NailModel.from_pretrained_encoder("splade-tiny", num_positions=4, decoder_layers=1, top_k=32)
    return DocumentEncoder(model, device="cpu", decimals=None)


def assert_features_close(got: dict[str, float], want: dict[str, float], tol: float, what: str) -> None:
    for token in set(got) | set(want):
        a, b = got.get(token, 0.0), want.get(token, 0.0)
        assert abs(a - b) <= tol, f"{what}: token {token!r} weighs {a} here and {b} alone"


def write_corpus(path: Path, n: int) -> list[str]:
    ids = [f"d{i}" for i in range(n)]
    with path.open("w", encoding="utf-8") as f:
        for i, doc_id in enumerate(ids):
            f.write(json.dumps({"_id": doc_id, "title": f"Title {i}", "text": TEXTS[i % len(TEXTS)]}) + "\n")
    return ids


def read_output(path: Path) -> dict[str, dict[str, float]]:
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    by_id = {r["id"]: r["features"] for r in records}
    assert len(by_id) == len(records), f"{path}: an id is written twice"
    return by_id


def test_splade_tiny_is_a_sparse_encoder_with_sensible_tokens(splade: DocumentEncoder):
    assert isinstance(splade, SparseEncoder)
    features = splade.encode_documents(TEXTS[:1])[0]
    assert {"coffee", "beans", "roast"} <= set(list(features)[:10]), list(features)[:10]


@pytest.mark.parametrize("which", ["splade", "nail"])
def test_weights_are_finite_positive_top_k_and_never_special(which: str, request: pytest.FixtureRequest):
    encoder: DocumentEncoder = request.getfixturevalue(which)
    vocab = encoder.tokenizer.hf.get_vocab()
    for text, features in zip(TEXTS, encoder.encode_documents(TEXTS, batch_size=3), strict=True):
        assert 0 < len(features) <= encoder.top_k, f"{text!r}: {len(features)} tokens"
        for token, weight in features.items():
            assert token in vocab, f"{text!r}: {token!r} is not a vocabulary token"
            assert not (token.startswith("[") and token.endswith("]")), f"{text!r}: special token {token}"
            assert isinstance(weight, float) and math.isfinite(weight) and weight > 0, f"{token}: {weight}"


def test_top_k_keeps_the_heaviest_tokens(splade: DocumentEncoder):
    full = splade.encode_documents(TEXTS[:3])
    top5 = DocumentEncoder(splade.model, top_k=5, device="cpu").encode_documents(TEXTS[:3])
    for everything, kept in zip(full, top5, strict=True):
        assert kept == dict(sorted(everything.items(), key=lambda kv: -kv[1])[:5])


@pytest.mark.parametrize("which", ["splade", "nail"])
def test_a_document_encodes_the_same_alone_or_in_any_batch(which: str, request: pytest.FixtureRequest):
    encoder: DocumentEncoder = request.getfixturevalue(which)
    alone = [encoder.encode_documents([t])[0] for t in TEXTS]
    order = list(range(len(TEXTS)))
    random.Random(7).shuffle(order)
    batched = encoder.encode_documents([TEXTS[i] for i in order], batch_size=3)
    for position, i in enumerate(order):
        # 2e-4: padding changes fp32 summation order; the 4-decimal rounding can then move the last digit.
        assert_features_close(batched[position], alone[i], 2e-4, f"text {i} at position {position}")


def test_bf16_on_cpu_keeps_the_heaviest_tokens(splade: DocumentEncoder):
    fp32 = splade.encode_documents(TEXTS[:3])
    bf16 = DocumentEncoder(splade.model, device="cpu", precision="bf16").encode_documents(TEXTS[:3])
    for a, b in zip(fp32, bf16, strict=True):
        top_a, top_b = set(list(a)[:20]), set(list(b)[:20])
        assert len(top_a & top_b) >= 16, f"bf16 keeps {len(top_a & top_b)} of the fp32 top 20"
    with pytest.raises(ValueError, match='precision "int8"'):
        DocumentEncoder(splade.model, device="cpu", precision="int8")  # type: ignore[arg-type]


def test_encode_corpus_resumes_after_a_torn_write(splade: DocumentEncoder, tmp_path: Path):
    corpus = tmp_path / "corpus.jsonl"
    ids = write_corpus(corpus, 9)
    full = encode_corpus(splade, corpus, tmp_path / "full.jsonl", batch_size=4, show_progress=False)
    assert full.written == 9
    lines = (tmp_path / "full.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    killed = tmp_path / "killed.jsonl"
    killed.write_text("".join(lines[:4]) + lines[4][:25], encoding="utf-8")  # a run killed mid-line
    again = encode_corpus(splade, tmp_path, killed, batch_size=4, show_progress=False)  # the BEIR folder
    assert (again.already_done, again.written) == (4, 5)
    resumed = read_output(killed)
    assert list(resumed) == ids  # corpus order, each id once
    for doc_id, features in read_output(tmp_path / "full.jsonl").items():
        assert_features_close(resumed[doc_id], features, 2e-4, doc_id)


def test_shards_cover_the_corpus_exactly_once(splade: DocumentEncoder, tmp_path: Path):
    corpus = tmp_path / "corpus.jsonl"
    ids = write_corpus(corpus, 12)
    seen: list[str] = []
    for i in range(3):
        report = encode_corpus(splade, corpus, tmp_path / f"s{i}.jsonl", shard=f"{i}/3", show_progress=False)
        assert report.written + report.other_shards == 12
        seen += list(read_output(tmp_path / f"s{i}.jsonl"))
    assert sorted(seen) == sorted(ids)
    with pytest.raises(ValueError, match='shard "3/3" needs 0 <= i < n'):
        encode_corpus(splade, corpus, tmp_path / "x.jsonl", shard=(3, 3))


def test_bad_lines_are_skipped_then_reported_with_file_and_line(splade: DocumentEncoder, tmp_path: Path):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(
        '{"_id": "a", "text": "coffee"}\n{"title": "no id"}\n{"id": 7, "text": "tea"}\nnot json\n'
        '{"_id": "a", "text": "a duplicate id"}\n',
        encoding="utf-8",
    )
    out = tmp_path / "out.jsonl"
    with pytest.raises(CorpusError) as err:
        encode_corpus(splade, corpus, out, show_progress=False)
    assert f"{corpus}:2:" in str(err.value) and f"{corpus}:4:" in str(err.value)
    assert list(read_output(out)) == ["a", "7"]


def test_documents_without_text_are_counted_not_encoded(splade: DocumentEncoder, tmp_path: Path):
    # Ingest refuses a document with no text; encode must not give it weights that queries would match.
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text('{"_id": "a", "text": "coffee"}\n{"_id": "b", "title": " ", "text": ""}\n'
                      '{"_id": "c", "title": "tea"}\n', encoding="utf-8")
    report = encode_corpus(splade, corpus, tmp_path / "out.jsonl", show_progress=False)
    assert (report.written, report.empty) == (2, 1)
    assert list(read_output(tmp_path / "out.jsonl")) == ["a", "c"]


def test_load_model_refuses_minilm_without_a_trained_head():
    with pytest.raises(CheckpointError, match="no trained vocabulary head"):
        load_model("minilm")


def test_load_model_reads_a_saved_nail_folder(nail: DocumentEncoder, tmp_path: Path):
    nail.model.save_pretrained(tmp_path, query_weights={2003: 0.5})
    loaded = load_model(tmp_path, device="cpu")
    assert loaded.model.config.architecture == "nail" and loaded.top_k == 32
    assert loaded.tokenizer.query_weights == {2003: 0.5}
    assert list(loaded.encode_documents(TEXTS[:1])[0].values())[0] > 0


def test_cli_encodes_a_beir_folder_and_rejects_a_bad_shard(tmp_path: Path):
    write_corpus(tmp_path / "corpus.jsonl", 3)
    out = tmp_path / "features.jsonl"
    runner = CliRunner()
    result = runner.invoke(encode, [str(tmp_path), "-m", "splade-tiny", "-o", str(out), "--top-k", "8", "-q"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("3 documents encoded") and str(out) in result.output
    assert all(len(f) <= 8 for f in read_output(out).values())
    result = runner.invoke(encode, [str(tmp_path), "-o", str(out), "--shard", "4/4"])
    assert result.exit_code == 2 and "needs 0 <= i < n" in result.output
    help_text = runner.invoke(encode, ["--help"]).output
    assert "Example:\n    nail-os encode scifact/" in help_text
