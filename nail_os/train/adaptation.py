"""`nail-os adapt`: unsupervised adaptation of a trained model to the user's own corpus (issue 14, point 4).

Only the corpus's text is read, never a query or a label of it:
- stage 1: inverse cloze, cropping and title pairs made from the corpus (`build_stage1_pairs`), contrastive
  with in-batch negatives;
- stage 2: `pseudo_queries` of those pairs as pseudo-labelled queries (`pseudo_labelled`): BM25 hard negatives
  among all the passages, KL distillation from teachers that score every candidate once (MiniLM dense,
  splade-tiny, BM25: the hybrid the model must beat);
- the saved query weights are IDF over the corpus, the weights an index of it gives at search time.
There are no labels to select a state on, so the model after the last epoch is kept. The corpus is
*transductive* for the result (its text trained the model, no label did): `provenance.json` says so and keeps
what the parent model had seen, so results on that corpus are never reported as zero-shot.

The result is a normal model folder: `nail-os encode/ingest/eval --model OUTPUT_DIR` use it unchanged.

Defaults are sized for "minutes, not hours, for 100k documents on one GPU": at most 100,000 stage-1 pairs
(≈ 400 steps of 256) and 10,000 pseudo-queries (≈ 300 steps of 32 queries × 8 documents), one epoch each. By the
throughput of the shipped recipe on an H100 (eval/results/training/README.md: 407,694 stage-1 pairs in ≈ 4 min,
two stage-2 epochs of 18,000 queries with teacher scoring in ≈ 5 min, two jobs side by side) that is about
5 minutes; an estimate, not yet measured.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nail_os.errors import NailOSError
from nail_os.registry import resolve_model_dir
from nail_os.train.config import TrainConfig
from nail_os.train.data import build_stage1_pairs, load_corpus

# The zero-shot recipe's ensemble (configs/nail-zeroshot.json): dense, sparse and lexical teachers, equal weights.
DEFAULT_TEACHERS: dict[str, float] = {"minilm": 1.0, "splade-tiny": 1.0, "bm25": 1.0}
CORPUS_FILES = ("corpus.jsonl", "corpus.jsonl.gz")


class AdaptError(NailOSError, ValueError):
    """An input of `nail-os adapt` (corpus, model or output folder) cannot be used; the message names it."""


def adapt(
    corpus: str | Path,
    output_dir: str | Path,
    *,
    model: str | Path = "nail-minilm",
    epochs: int = 1,
    max_pairs: int = 100_000,
    pseudo_queries: int = 10_000,
    teachers: Mapping[str, float] = DEFAULT_TEACHERS,
    device: str = "auto",
    seed: int = 13,
    settings: Mapping[str, Any] | None = None,
    show_progress: bool = True,
) -> Path:
    """Adapt `model` to `corpus` without labels and save it to `output_dir`; returns that folder.

    Args:
        corpus: a BEIR folder (only its corpus.jsonl(.gz) is read) or a JSONL(.gz) file of documents
            (`{"_id", "title", "text"}` per line).
        output_dir: a new or empty folder, or a model folder to overwrite (never `model` itself). Training logs
            go to `output_dir/logs/`.
        model: the trained nail-os model to start from: a name ("nail-minilm") or a folder.
        epochs: epochs of stage 1 and of stage 2.
        max_pairs: stage-1 pairs at most (0: one ICT, one crop and one title pair per document where it allows).
        pseudo_queries: stage-2 pseudo-queries at most (0: every pair).
        teachers: teacher name -> weight in the distillation ensemble (empty: no distillation).
        device: "auto" (cuda when there is one), "cuda", "cpu".
        seed: seeds pairs, batches and initialisation.
        settings: any further `TrainConfig` keys as a nested dict, applied last, e.g.
            `{"stage1": {"batch_size": 64}}` (what `nail-os adapt --set stage1.batch_size=64` builds).

    >>> adapt("../shared/data/cacm", "runs/adapt-cacm")  # doctest: +SKIP
    PosixPath('runs/adapt-cacm')
    """
    problems = [f"{n} is {v}; it must be 0 (no limit) or at least 2 (a batch needs a second pair as its negative)"
                for n, v in (("max_pairs", max_pairs), ("pseudo_queries", pseudo_queries)) if v < 0 or v == 1]
    if epochs < 1:
        problems.append(f"epochs is {epochs}; it must be at least 1")
    if problems:
        raise AdaptError("; ".join(problems))
    parent = _trained_model_dir(model)
    out = Path(output_dir)
    _check_output(out, parent)
    documents = corpus_file(corpus)
    _check_corpus(documents, seed)
    from nail_os.train.loop import PROVENANCE_FILE  # torch loads here, once the inputs are known to be good
    from nail_os.train.loop import train as run_training

    cfg = adapt_config(documents, out, parent, epochs=epochs, max_pairs=max_pairs, pseudo_queries=pseudo_queries,
                       teachers=teachers, device=device, seed=seed, settings=settings)
    run_training(cfg, show_progress=show_progress)
    seen = adapted_provenance(_read_json(parent / PROVENANCE_FILE), corpus_name(documents))
    seen.update(adapted_from=str(model), corpus=str(documents.resolve()))
    (out / PROVENANCE_FILE).write_text(json.dumps(seen, indent=2) + "\n", encoding="utf-8")
    return out


def adapt_config(
    documents: Path,
    out: Path,
    parent: Path,
    *,
    epochs: int,
    max_pairs: int,
    pseudo_queries: int,
    teachers: Mapping[str, float],
    device: str,
    seed: int,
    settings: Mapping[str, Any] | None,
) -> TrainConfig:
    """The `TrainConfig` of one adaptation (arguments as `adapt`'s): `documents` is the only corpus, with no
    labelled set, dev set or test set; the init is the trained `parent` folder, whose architecture and lengths
    are kept.

    Learning rates are those of the shipped model's continuations (1e-5 to 2e-5: the head is trained, so it gets
    no faster rate), FLOPS weights those of its recipe at full strength from the first step (the model is
    already sparse; a warm-up from 0 would let it densify first).
    """
    parent_config = _read_json(parent / "config.json")
    length = int(parent_config.get("max_length", 256))
    name = documents.name
    data: dict[str, Any] = {
        "name": f"adapt-{corpus_name(documents)}",
        "seed": seed,
        "init": str(parent),
        "architecture": parent_config.get("architecture", "nail"),
        "data_dir": str(documents.parent),
        "query_weights": "idf",  # one corpus: IDF over it, as its own index weighs queries
        "stage1_corpora": [name],
        "stage1": {"epochs": epochs, "batch_size": 256, "lr": 2e-5, "max_length": min(128, length),
                   "max_pairs": max_pairs, "headwords": True, "flops_weight": 3e-4},
        "stage2": {"epochs": epochs, "batch_size": 32, "negatives": 7, "bm25_depth": 50, "lr": 2e-5,
                   "max_length": length, "flops_weight": 1e-3, "pseudo_corpora": [name],
                   "pseudo_queries": pseudo_queries, "datasets": {}},
        "distill": {"enabled": bool(teachers), "teachers": dict(teachers)},
        "head_lr_mult": 1.0,
        "flops_warmup": 0.0,
        "dev_sets": [],
        "select_on": [],
        "test_sets": [],
        "output_dir": str(out),
        "log_dir": str(out / "logs"),
        "device": device,
    }
    return TrainConfig.from_dict(_merged(data, settings or {}))


def adapted_provenance(parent: Mapping[str, Any], corpus: str) -> dict[str, Any]:
    """The parent's provenance plus `corpus` as transductive (unless its labels already trained the parent).

    >>> adapted_provenance({"supervised": ["scifact"], "transductive": ["cacm"]}, "cranfield")
    {'supervised': ['scifact'], 'transductive': ['cacm', 'cranfield']}
    """
    supervised = set(parent.get("supervised", []))
    transductive = (set(parent.get("transductive", [])) | {corpus}) - supervised
    return {"supervised": sorted(supervised), "transductive": sorted(transductive)}


def corpus_name(corpus: str | Path) -> str:
    """The collection's name as `nail-os eval` reports it: a BEIR folder's name, or a file's without .jsonl(.gz).

    >>> corpus_name("../shared/data/cacm"), corpus_name("docs/manuals.jsonl.gz")
    ('cacm', 'manuals')
    """
    path = Path(corpus).resolve()
    if path.name in CORPUS_FILES or path.is_dir():
        path = path if path.is_dir() else path.parent
        return path.name
    return path.name.removesuffix(".gz").removesuffix(".jsonl")


def corpus_file(corpus: str | Path) -> Path:
    """The JSONL(.gz) file of documents `corpus` names: itself, or a BEIR folder's corpus.jsonl(.gz)."""
    path = Path(corpus)
    if path.is_dir():
        for name in CORPUS_FILES:
            if (path / name).is_file():
                return path / name
        raise AdaptError(f"{path}: no corpus.jsonl (or corpus.jsonl.gz); adapt reads a BEIR folder's corpus or a "
                         "JSONL(.gz) file of documents")
    if not path.is_file():
        raise AdaptError(f"{path}: no such file or folder; adapt reads a BEIR folder (corpus.jsonl) or a "
                         "JSONL(.gz) file of documents")
    return path


def _check_corpus(documents: Path, seed: int) -> None:
    """Fail before any model loads when the corpus gives nothing to train on."""
    try:
        ds = load_corpus(documents)
    except KeyError as exc:
        raise AdaptError(f"{documents}: a document has no {exc} field; each line needs _id and text") from exc
    if not ds.doc_ids:
        raise AdaptError(f"{documents}: no documents; adapt needs the text of the corpus to train on")
    pairs = build_stage1_pairs(ds.doc_texts, random.Random(seed), titles=ds.titles)
    if len(pairs) < 2:
        raise AdaptError(
            f"{documents}: {len(ds.doc_ids)} documents gave {len(pairs)} training pairs; adapt needs documents of "
            "3 or more sentences, 36 or more words, or with titles"
        )


def _trained_model_dir(model: str | Path) -> Path:
    from nail_os.model.config import NailConfig

    folder = resolve_model_dir(model)
    if not NailConfig.is_nail_config(_read_json(folder / "config.json")):
        raise AdaptError(f'model "{model}" ({folder}) is not a trained nail-os model; adapt starts from one '
                         "(nail-minilm, or a folder written by nail-os train); to train from a pretrained encoder "
                         "use nail-os train")
    return folder


def _check_output(out: Path, parent: Path) -> None:
    """`out` may be new, empty, or a model folder to overwrite, never the model adapted from."""
    from nail_os.model.config import NailConfig

    if out.exists() and not out.is_dir():
        raise AdaptError(f"output {out}: exists and is a file; give a new folder")
    if out.is_dir() and out.resolve() == parent.resolve():
        raise AdaptError(f"output {out}: is the model being adapted; give a new folder")
    if out.is_dir() and any(out.iterdir()) and not NailConfig.is_nail_config(_read_json(out / "config.json")):
        raise AdaptError(f"output {out}: exists and is not a nail-os model folder; give a new or empty folder")


def _read_json(path: Path) -> dict[str, Any]:
    """A JSON object file, or {} where there is none (a folder without provenance.json)."""
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise AdaptError(f"{path}: not valid JSON ({exc})") from exc
    return data if isinstance(data, dict) else {}


def _merged(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """`base` with `extra`'s keys set, nested dicts merged key by key."""
    out = dict(base)
    for key, value in extra.items():
        out[key] = _merged(out[key], value) if isinstance(value, Mapping) and isinstance(out.get(key), dict) else value
    return out
