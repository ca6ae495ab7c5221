"""What a training run reads: one JSON file (configs/*.json) mapped onto dataclasses, unknown keys refused."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, Literal

from nail_os.errors import NailOSError

ALL_CORPORA = ["scifact", "nfcorpus", "cranfield", "cacm", "medline", "debian-descriptions"]
TEST_SETS = ["scifact/test", "nfcorpus/test", "cranfield/test", "cacm/test", "medline/test"]


class TrainConfigError(NailOSError, ValueError):
    """A training config file is malformed; the message names every bad key."""


@dataclass
class Stage1Config:
    """Self-supervised pre-training: ICT + disjoint cropping over every corpus, in-batch negatives only."""

    enabled: bool = True
    epochs: float = 1.0
    batch_size: int = 128
    lr: float = 5e-5
    max_length: int = 128  # passages are at most 160 words (cropping) or one abstract minus a sentence
    max_pairs: int = 0  # 0: every pair the corpora give
    headwords: bool = False  # also title -> rest-of-document pairs (dictionary headwords, manual page names)
    flops_weight: float = 1e-3


@dataclass
class Stage2DatasetConfig:
    split: str = "train"
    positives_per_query: int = 1  # a query with many positives (nfcorpus) appears once per positive, up to this
    repeat: int = 1  # small sets (scifact) are repeated per epoch
    max_queries: int = 0  # 0: all; otherwise a random subset per epoch (debian has 42k)


@dataclass
class Stage2Config:
    """Supervised contrastive training: positive + BM25 hard negatives + in-batch documents."""

    enabled: bool = True
    epochs: int = 2
    batch_size: int = 48  # queries per step; documents per step = batch_size × (1 + negatives)
    negatives: int = 7
    bm25_depth: int = 50  # hard negatives are sampled from BM25's top documents that are not positives
    lr: float = 3e-5
    max_length: int = 256
    flops_weight: float = 3e-3
    # Unlabeled corpora whose ICT/crop/headword pairs join stage 2 as pseudo-labelled queries (BM25 negatives,
    # teacher scores), at most `pseudo_queries` per corpus (0: all).
    pseudo_corpora: list[str] = field(default_factory=list)
    pseudo_queries: int = 0
    datasets: dict[str, Stage2DatasetConfig] = field(
        default_factory=lambda: {
            "scifact": Stage2DatasetConfig(repeat=4),
            "nfcorpus": Stage2DatasetConfig(positives_per_query=4),
            "debian-descriptions": Stage2DatasetConfig(max_queries=16000),
        }
    )


@dataclass
class DistillConfig:
    enabled: bool = True
    weight: float = 1.0
    temperature: float = 0.1  # on [0, 1] min-max ensemble scores: best vs worst candidate odds e^10
    # name -> weight; "bm25" is the in-process BM25 over the candidate's own corpus
    teachers: dict[str, float] = field(default_factory=lambda: {"minilm": 1.0, "splade-tiny": 1.0})


@dataclass
class TrainConfig:
    name: str = "nail-minilm"
    seed: int = 13
    init: str = "minilm"  # "minilm", "splade-tiny" or a model folder
    architecture: Literal["nail", "splade"] = "nail"
    model: dict[str, Any] = field(default_factory=dict)  # NailConfig overrides (num_positions, top_k, ...)
    data_dir: str = ""  # "" -> $NAIL_OS_DATA or ../shared/data
    teacher_paths: dict[str, str] = field(default_factory=lambda: {"minilm": "minilm", "splade-tiny": "splade-tiny"})
    # "idf": one IDF table over all stage-1 text; "idf-self": each corpus's queries weighed by IDF over that
    # corpus's own documents, as an index's own statistics weigh them at search time; "binary": all 1.
    query_weights: Literal["idf", "idf-self", "binary"] = "idf"
    stage1_corpora: list[str] = field(default_factory=lambda: list(ALL_CORPORA))
    stage1: Stage1Config = field(default_factory=Stage1Config)
    stage2: Stage2Config = field(default_factory=Stage2Config)
    distill: DistillConfig = field(default_factory=DistillConfig)
    head_lr_mult: float = 4.0  # decoder, position queries and vocab head start (partly) random
    warmup: float = 0.05
    flops_warmup: float = 0.3  # fraction of each stage over which the FLOPS weight grows quadratically
    # `debian_heldout` train queries of `heldout_corpus` are kept out of stage 2 as its "heldout" split, for
    # model selection (the field keeps its first corpus's name: the configs in configs/ use it).
    heldout_corpus: str = "debian-descriptions"
    debian_heldout: int = 1000
    dev_sets: list[str] = field(default_factory=lambda: ["nfcorpus/dev", "debian-descriptions/heldout"])
    select_on: str | list[str] = "nfcorpus/dev"  # a list: the mean over a validation panel
    test_sets: list[str] = field(default_factory=lambda: list(TEST_SETS))
    hybrid_weights: list[float] = field(default_factory=lambda: [0.3, 0.5, 0.7])
    output_dir: str = "runs/{name}"
    log_dir: str = "eval/results/training/{name}"
    device: str = "auto"
    limit_docs: int = 0  # debugging on a CPU: keep at most this many documents per corpus (0: all)
    limit_queries: int = 0
    log_every: int = 20

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        problems: list[str] = []
        cfg = _build(cls, data, "", problems)
        if problems:
            raise TrainConfigError("invalid training config: " + "; ".join(problems))
        return cfg

    @classmethod
    def from_file(cls, path: str | Path) -> TrainConfig:
        path = Path(path)
        text = path.read_text(encoding="utf-8")
        if path.suffix in (".yaml", ".yml"):
            import yaml  # only for YAML configs; JSON needs nothing

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
        try:
            return cls.from_dict(data)
        except TrainConfigError as exc:
            raise TrainConfigError(f"{path}: {exc}") from exc

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def resolved(self, template: str) -> Path:
        return Path(template.format(name=self.name))


def _build(cls: type, data: dict[str, Any], where: str, problems: list[str]) -> Any:
    if not isinstance(data, dict):
        problems.append(f"{where or 'config'} must be an object, got {type(data).__name__}")
        return cls()
    known = {f.name: f for f in fields(cls)}
    for key in sorted(set(data) - set(known)):
        problems.append(f'unknown key "{where}{key}" (known: {", ".join(sorted(known))})')
    kwargs: dict[str, Any] = {}
    defaults = cls()
    for key, value in data.items():
        if key not in known:
            continue
        default = getattr(defaults, key)
        if is_dataclass(default):
            kwargs[key] = _build(type(default), value, f"{where}{key}.", problems)
        elif key == "datasets" and cls is Stage2Config:
            kwargs[key] = {
                name: _build(Stage2DatasetConfig, spec, f"{where}datasets.{name}.", problems)
                for name, spec in (value or {}).items()
            }
        else:
            kwargs[key] = value
    return cls(**kwargs)
