"""`nail-os soup`: the mean of fine-tunings of one model, and a clear refusal for models that do not fit."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from click.testing import CliRunner  # noqa: E402

from nail_os.cli.main import main  # noqa: E402
from nail_os.model._checkpoints import CheckpointError  # noqa: E402
from nail_os.model.nail import NailModel  # noqa: E402
from nail_os.train.soup import average_checkpoints  # noqa: E402

from .test_train_step import _tiny_model  # noqa: E402

QUERY_WEIGHTS = {5: 2.0, 6: 1.5}


def _fine_tunings(tmp_path: Path, n: int) -> list[Path]:
    """n copies of one model, each nudged differently, saved as fp16 folders (as training writes them)."""
    torch.manual_seed(0)
    parent = _tiny_model()
    folders = []
    for i in range(n):
        child = _tiny_model()
        child.load_state_dict(parent.state_dict())
        with torch.no_grad():
            for p in child.parameters():
                p.add_(0.01 * (i + 1) * torch.randn_like(p))
        folders.append(child.save_pretrained(tmp_path / f"run{i}", query_weights=QUERY_WEIGHTS))
    return folders


def test_the_soup_is_the_mean_of_the_weights_and_a_loadable_model(tmp_path: Path):
    folders = _fine_tunings(tmp_path, 3)
    out = average_checkpoints(folders, tmp_path / "soup")
    soup = NailModel.from_pretrained(out)
    runs = [NailModel.from_pretrained(f).state_dict() for f in folders]
    for key, value in soup.state_dict().items():
        mean = sum(r[key] for r in runs) / len(runs)
        assert torch.allclose(value, mean.half().float()), key  # stored fp16, like every checkpoint
    assert not torch.equal(soup.state_dict()["head.bias"], runs[0]["head.bias"])
    assert soup.query_weights == QUERY_WEIGHTS
    assert soup.config == NailModel.from_pretrained(folders[0]).config


def test_how_the_head_was_first_initialised_does_not_matter(tmp_path: Path):
    # A run continued from a checkpoint loads its head ("mlm"); the parent's head was fresh ("tied").
    folders = _fine_tunings(tmp_path, 2)
    continued = NailModel.from_pretrained(folders[1])
    continued.config.vocab_head = "mlm"
    continued.save_pretrained(folders[1])
    assert NailModel.from_pretrained(average_checkpoints(folders, tmp_path / "soup")).config.vocab_head == "tied"


def test_models_that_do_not_fit_are_refused_by_name(tmp_path: Path):
    first = _fine_tunings(tmp_path, 1)[0]
    model = _tiny_model()
    model.config.top_k = 4  # same parameters, another config
    other = model.save_pretrained(tmp_path / "other-top-k", query_weights=QUERY_WEIGHTS)
    refusal = r"other-top-k cannot be averaged with .*run0: config differs in \['top_k'\]"
    with pytest.raises(CheckpointError, match=refusal):
        average_checkpoints([first, other], tmp_path / "soup")
    result = CliRunner().invoke(main, ["soup", str(first), str(tmp_path / "other-top-k"), "-o", str(tmp_path / "x")])
    assert result.exit_code == 1 and "config differs in ['top_k']" in result.output
    assert not (tmp_path / "x").exists()


def test_one_model_is_not_a_soup(tmp_path: Path):
    with pytest.raises(CheckpointError, match="at least two"):
        average_checkpoints(_fine_tunings(tmp_path, 1), tmp_path / "soup")
