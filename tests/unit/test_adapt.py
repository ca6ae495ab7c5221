"""`nail-os adapt`: a tiny CPU adaptation gives a loadable model folder, changed from its parent, whose provenance
marks the corpus transductive; init from a trained folder keeps the whole model; bad inputs are named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from nail_os.cli.main import main

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from nail_os.model.nail import NailModel  # noqa: E402
from nail_os.train import AdaptError, TrainConfig, TrainConfigError, adapt  # noqa: E402
from nail_os.train.loop import initial_model  # noqa: E402

PARENT_SEEN = {"supervised": ["scifact"], "transductive": ["cacm"]}


@pytest.fixture(scope="module")
def parent(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A trained-looking nail-os folder: splade-tiny's encoder under a one-layer NAIL decoder (fast on a CPU)."""
    torch.manual_seed(0)
    model = NailModel.from_pretrained_encoder("splade-tiny", architecture="nail", num_positions=4, decoder_layers=1,
                                              top_k=64, max_length=64)
    folder = model.save_pretrained(tmp_path_factory.mktemp("parent") / "model", query_weights={1996: 1.0})
    (folder / "provenance.json").write_text(json.dumps(PARENT_SEEN), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def corpus(data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """60 SciFact abstracts as a user's JSONL file (no queries, no qrels)."""
    lines = (data / "scifact" / "corpus.jsonl").read_text(encoding="utf-8").splitlines()[:60]
    path = tmp_path_factory.mktemp("corpus") / "abstracts.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_adapt_writes_a_changed_model_whose_provenance_says_transductive(parent: Path, corpus: Path, tmp_path: Path):
    out = tmp_path / "adapted"
    tiny = ["--max-pairs", "8", "--pseudo-queries", "8", "--teachers", "bm25,splade-tiny", "--device", "cpu",
            "--set", "stage1.batch_size=4", "--set", "stage2.batch_size=4", "--set", "stage2.negatives=2",
            "--set", "stage2.bm25_depth=5"]
    result = CliRunner().invoke(main, ["adapt", str(corpus), "-o", str(out), "--model", str(parent), *tiny])
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1] == str(out)

    before, after = NailModel.from_pretrained(parent), NailModel.from_pretrained(out)
    assert after.config.architecture == "nail" and after.config.num_positions == 4  # the parent's shape, kept
    changed = [k for k, v in after.state_dict().items() if not torch.equal(v, before.state_dict()[k])]
    assert any(k.startswith("encoder.") for k in changed) and any(k.startswith("decoder.") for k in changed)
    assert (out / "query_weights.json").is_file() and (out / "logs" / "train.log").is_file()

    seen = json.loads((out / "provenance.json").read_text(encoding="utf-8"))
    assert seen["supervised"] == ["scifact"]
    assert seen["transductive"] == ["abstracts", "cacm"]  # the corpus, and what the parent had seen
    assert seen["adapted_from"] == str(parent)
    logged = json.loads((out / "logs" / "config.json").read_text(encoding="utf-8"))
    assert logged["stage2"]["datasets"] == {} and logged["dev_sets"] == [] and logged["test_sets"] == []


def test_init_from_a_trained_folder_keeps_decoder_and_head(parent: Path):
    model = initial_model(TrainConfig(init=str(parent), architecture="nail", model={"top_k": 32}))
    saved = NailModel.from_pretrained(parent)
    assert all(torch.equal(v, saved.state_dict()[k]) for k, v in model.state_dict().items())
    assert model.config.top_k == 32  # what encoding reads may change


def test_init_from_a_trained_folder_refuses_another_shape(parent: Path):
    with pytest.raises(TrainConfigError, match=r"architecture \"splade\".*model.num_positions=8"):
        initial_model(TrainConfig(init=str(parent), architecture="splade", model={"num_positions": 8}))


def test_help_has_an_example():
    result = CliRunner().invoke(main, ["adapt", "--help"])
    assert result.exit_code == 0 and "nail-os adapt ../shared/data/cacm -o runs/adapt-cacm" in result.output


@pytest.mark.parametrize("case", ["missing corpus", "empty corpus", "output not a model", "output is the model"])
def test_bad_input_is_named(case: str, parent: Path, tmp_path: Path):
    corpus, out = tmp_path / "docs.jsonl", tmp_path / "out"
    corpus.write_text('{"_id": "d1", "text": "one short line"}\n', encoding="utf-8")
    if case == "missing corpus":
        corpus, named = tmp_path / "nowhere", "nowhere: no such file or folder"
    elif case == "empty corpus":
        corpus.write_text("", encoding="utf-8")
        named = "docs.jsonl: no documents"
    elif case == "output not a model":
        out.mkdir()
        (out / "notes.txt").write_text("mine", encoding="utf-8")
        named = "out: exists and is not a nail-os model folder"
    else:
        out, named = parent, "is the model being adapted"
    result = CliRunner().invoke(main, ["adapt", str(corpus), "-o", str(out), "--model", str(parent)])
    assert result.exit_code == 1 and named in result.output, result.output


def test_too_few_pairs_and_a_pretrained_encoder_are_refused(parent: Path, tmp_path: Path):
    corpus = tmp_path / "docs.jsonl"
    corpus.write_text('{"_id": "d1", "text": "one short line"}\n', encoding="utf-8")
    with pytest.raises(AdaptError, match="1 documents gave 0 training pairs"):
        adapt(corpus, tmp_path / "out", model=parent)
    with pytest.raises(AdaptError, match='model "splade-tiny" .* is not a trained nail-os model'):
        adapt(corpus, tmp_path / "out", model="splade-tiny")
    with pytest.raises(AdaptError, match="max_pairs is 1"):
        adapt(corpus, tmp_path / "out", model=parent, max_pairs=1)


def test_a_beir_folder_gives_its_corpus_file_and_name(tmp_path: Path):
    from nail_os.train.adaptation import corpus_file, corpus_name

    beir = Path(__file__).resolve().parents[2] / "ingest" / "samples" / "beir"
    assert corpus_file(beir) == beir / "corpus.jsonl" and corpus_name(beir) == "beir"  # queries, qrels unread
    (tmp_path / "queries.jsonl").write_text("", encoding="utf-8")
    with pytest.raises(AdaptError, match="no corpus.jsonl"):
        corpus_file(tmp_path)
