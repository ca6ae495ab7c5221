"""Fixtures shared by unit and integration tests: the data folder and the splade-tiny tokenizer."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nail_os.registry import resolve_model_dir
from nail_os.tokens import Tokenizer

ROOT = Path(__file__).resolve().parent.parent


def data_dir() -> Path:
    """`NAIL_OS_DATA`, default `../shared/data` relative to the project root."""
    return Path(os.environ.get("NAIL_OS_DATA", ROOT.parent / "shared" / "data")).resolve()


@pytest.fixture(scope="session")
def data() -> Path:
    path = data_dir()
    if not (path / "scifact" / "corpus.jsonl").is_file():
        pytest.fail(f"test data not found at {path}: set NAIL_OS_DATA to the folder holding scifact/ etc.")
    return path


@pytest.fixture(scope="session")
def tokenizer() -> Tokenizer:
    """The BERT uncased tokenizer that splade-tiny, MiniLM and our NAIL checkpoint share."""
    return Tokenizer.from_model_dir(resolve_model_dir("splade-tiny"))


@pytest.fixture(scope="session")
def local_ray():
    """A small local Ray (2 CPUs, 200 MB object store) for `--ray` tests: runs in this process reuse it, a CLI in a
    subprocess joins it with `--address` (the yielded GCS address). The `ray` extra comes with `dev`."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, object_store_memory=200 * 2**20, include_dashboard=False, log_to_driver=False)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()
