"""BM25, NAIL and hybrid measured side by side through OpenSearch: quality, significance, latency, size.

`evaluate()` is `nail-os eval` as a function. It indexes the corpus once through the ingest code (BM25
text fields + NAIL `rank_features`), runs every judged query of the split in each mode, sweeps the hybrid's
NAIL weight, scores every run with ir-measures, tests NAIL and hybrid against BM25 per query, times the
modes against each other on the same node, measures the index with and without the NAIL field, and checks
the engine's NAIL top-10 against exhaustive in-process scoring. `nail_os.evaluation.report` writes the results.

    >>> from nail_os import make_client
    >>> result = evaluate(make_client(), "../shared/data/medline", EvalOptions())  # doctest: +SKIP
    >>> round(result.results["quality"]["bm25"]["nDCG@10"], 3)  # doctest: +SKIP
    0.5...
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from opensearchpy import OpenSearch

from nail_os.corpus import CorpusError, read_qrels, read_queries
from nail_os.engines import engine_of
from nail_os.errors import NailOSError
from nail_os.evaluation.efficiency import posting_stats, query_token_stats, summarize_latency, time_queries
from nail_os.evaluation.metrics import MEASURES, PRIMARY, Qrels, Run, compare, per_query, score_run
from nail_os.mapping import DEFAULT_NAIL_FIELD
from nail_os.queries import (
    DEFAULT_MAX_CLAUSES,
    MODES,
    HybridNormalization,
    Mode,
    QueryOptions,
    build_query,
    select_tokens,
)
from nail_os.search import parse_hits, send
from nail_os.statistics import index_statistics
from nail_os.tokens import Tokenizer

log = logging.getLogger(__name__)

# NAIL weights (BM25 weight 1) for the hybrid sweep: log-spaced over two decades around equal weights, the
# range in which a BM25 score (~5-30 on these corpora) and a sparse dot product (~5-50) trade places.
DEFAULT_SWEEP: tuple[float, ...] = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)
# The reported hybrid uses QueryOptions' default weights (1 and 1), what a user gets without tuning.
DEFAULT_HYBRID_WEIGHT = 1.0
# Quality runs retrieve 1000 hits, as R@1000 (and BEIR's evaluation) needs; latency is timed at the
# size an application asks for.
RUN_DEPTH = 1000
LATENCY_SIZE = 10
# Timed samples per mode when the passes are chosen automatically: with 500, p99 rests on the 5 slowest
# queries rather than on the single slowest of a 29-query set.
LATENCY_SAMPLES = 500
MIN_LATENCY_PASSES = 3


class EvaluationError(NailOSError, ValueError):
    """Options or inputs that cannot make an evaluation (a split without queries, a mode list without BM25)."""


@dataclass
class Dataset:
    """The judged queries of one split of a corpus."""

    name: str
    source: str
    split: str
    queries: dict[str, str]
    qrels: Qrels

    @property
    def judgments(self) -> int:
        return sum(len(docs) for docs in self.qrels.values())


@dataclass
class EvalOptions:
    """What `nail-os eval` measures; the CLI's options map onto these fields."""

    model: str | None = None
    split: str = "test"
    index: str | None = None
    modes: tuple[Mode, ...] = MODES
    hybrid_weight: float = DEFAULT_HYBRID_WEIGHT
    sweep_weights: tuple[float, ...] = DEFAULT_SWEEP
    tune_split: str | None = None
    depth: int = RUN_DEPTH
    latency_size: int = LATENCY_SIZE
    latency_repeats: int | None = None  # None: enough passes for LATENCY_SAMPLES per mode, at least 3
    reindex: bool = False
    device: str | None = None
    features: Path | None = None  # pre-encoded documents (`nail-os encode` JSONL) instead of encoding here
    nail_field: str = DEFAULT_NAIL_FIELD
    max_clauses: int = DEFAULT_MAX_CLAUSES
    query_weights: Literal["index", "model"] = "index"  # see QueryOptions.query_weights
    # "max": the hybrid (and its sweep) through the nail plugin's nail_hybrid query; see QueryOptions
    hybrid_normalization: HybridNormalization = "none"
    seed: int = 0
    show_progress: bool = True

    def __post_init__(self) -> None:
        bad = [m for m in self.modes if m not in MODES]
        if bad or not self.modes:
            raise EvaluationError(f"modes {', '.join(bad) or '(none)'}: choose from {', '.join(MODES)}")
        if any(w <= 0 for w in (*self.sweep_weights, self.hybrid_weight)):
            raise EvaluationError(f"hybrid weights must be > 0, got {self.hybrid_weight} and {self.sweep_weights}")
        if self.tune_split is not None and self.tune_split == self.split:
            raise EvaluationError(f"--tune-split {self.tune_split!r} is the split under test: tune on another "
                                  f"split (train, dev), or read the sweep's best-on-test row as optimistic")
        if self.depth < 10 or (self.latency_repeats is not None and self.latency_repeats < 1):
            raise EvaluationError(f"depth must be ≥ 10 and repeats ≥ 1, got {self.depth} and {self.latency_repeats}")


@dataclass
class EvalResult:
    """Every figure (`results`, JSON-ready) and the runs behind them (`runs`, written as TREC files)."""

    results: dict[str, Any]
    runs: dict[str, Run] = field(default_factory=dict)


# -- inputs ----------------------------------------------------------------------------------------------------
KINDS = ("supervised", "transductive", "zero-shot")


def collection_kind(model_dir: Path, name: str) -> str:
    """How the model saw collection `name` (its `provenance.json`, written by `nail-os train`): "supervised" (its
    qrels trained or selected the model), "transductive" (its text trained it, without labels) or "zero-shot";
    "unknown" for a model folder that does not say. Results of different kinds are never averaged together."""
    path = Path(model_dir) / "provenance.json"
    if not path.is_file():
        return "unknown"
    seen = json.loads(path.read_text(encoding="utf-8"))
    for kind in ("supervised", "transductive"):
        if name in seen.get(kind, []):
            return kind
    return "zero-shot"


def dataset_name(source: str) -> str:
    """`../shared/data/scifact` → `scifact`; `irds:beir/scifact/test` → `beir-scifact-test`."""
    path = Path(source)
    if path.exists():
        return path.resolve().name if path.is_dir() else path.stem
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", source.removeprefix("irds:")).strip("-")


def load_dataset(source: str, split: str = "test") -> Dataset:
    """Judged queries of `split` from a BEIR folder, or from an ir_datasets id (whose own split it names)."""
    path = Path(source)
    if path.is_dir():
        queries, qrels = read_queries(path), read_qrels(path, split)
    else:
        queries, qrels = _ir_dataset_split(source, split)
    missing = sorted(q for q in qrels if q not in queries)
    if missing:
        raise CorpusError(f"{source}: {len(missing)} judged queries of split {split!r} have no text, e.g. "
                          f"{', '.join(missing[:5])}")
    if not qrels:
        raise CorpusError(f"{source}: split {split!r} has no judged queries")
    return Dataset(dataset_name(source), source, split, {q: queries[q] for q in sorted(qrels)}, qrels)


def _ir_dataset_split(source: str, split: str) -> tuple[dict[str, str], Qrels]:
    name = source.removeprefix("irds:")
    try:
        import ir_datasets
    except ImportError as exc:
        raise CorpusError(f"{source!r} is not a folder; ir_datasets ids need pip install 'nail-os[eval]'") from exc
    try:
        dataset = ir_datasets.load(name)
        if not dataset.has_qrels():
            name = f"{name}/{split}"
            dataset = ir_datasets.load(name)
    except KeyError as exc:
        raise CorpusError(f"{source!r} is neither a BEIR folder nor a known ir_datasets id (nor has a "
                          f"{split!r} subset)") from exc
    try:
        queries = {q.query_id: q.text for q in dataset.queries_iter()}
        qrels: Qrels = {}
        for qrel in dataset.qrels_iter():
            qrels.setdefault(qrel.query_id, {})[qrel.doc_id] = int(qrel.relevance)
    except Exception as exc:  # ir_datasets downloads on first use; offline that fails deep inside
        raise CorpusError(f"ir_datasets {name!r}: its data is not available locally ({type(exc).__name__}: "
                          f"{str(exc)[:200]}); download it where there is network, or give a BEIR folder") from exc
    return queries, qrels


# -- runs ------------------------------------------------------------------------------------------------------
def run_queries(client: OpenSearch, index: str, queries: Mapping[str, str], tokenizer: Tokenizer | None,
                options: QueryOptions, *, show_progress: bool = False, desc: str = "") -> tuple[Run, list[float]]:
    """Every query through `build_query` and the engine (request cache off): the run and each `took` in ms.

    The body is `build_query`'s except that no `_source` is fetched: ingest makes each `_id` the corpus id,
    and fetching 1000 sources per query would triple the time of a run without changing its ranking.
    """
    from tqdm.auto import tqdm

    engine = engine_of(client)
    options = replace(options, engine=engine.NAME)
    run: Run = {}
    took: list[float] = []
    for qid, text in tqdm(queries.items(), desc=desc, unit="query", disable=not show_progress or None):
        body = build_query(text, tokenizer, options) | {"_source": False}
        response = send(client, index, body, {"request_cache": "false"})
        run[qid] = [(h.doc_id, h.score) for h in parse_hits(response, tokenizer)]
        took.append(float(response["took"]))
    return run, took


def sweep_hybrid(client: OpenSearch, index: str, dataset: Dataset, tokenizer: Tokenizer, base: QueryOptions,
                 weights: tuple[float, ...], *, known: Mapping[float, Run] | None = None,
                 measures: tuple[str, ...] = MEASURES, show_progress: bool = False
                 ) -> tuple[list[dict[str, Any]], dict[float, Run]]:
    """Scores of the hybrid at each NAIL weight (BM25 weight 1) on `dataset`; runs in `known` are not rerun."""
    rows, runs = [], dict(known or {})
    for weight in weights:
        if weight not in runs:
            options = replace(base, mode="hybrid", bm25_weight=1.0, nail_weight=weight)
            runs[weight], _ = run_queries(client, index, dataset.queries, tokenizer, options,
                                          show_progress=show_progress, desc=f"hybrid w={weight:g} {dataset.split}")
        rows.append({"nail_weight": weight, **score_run(runs[weight], dataset.qrels, measures)})
    return rows, runs


def best_row(rows: list[dict[str, Any]], measure: str = PRIMARY) -> dict[str, Any]:
    """The sweep row with the highest `measure`; on a tie, the weight closest to 1 (equal weights).

    >>> best_row([{"nail_weight": 0.5, "nDCG@10": 0.7}, {"nail_weight": 2.0, "nDCG@10": 0.7}])["nail_weight"]
    0.5
    """
    return max(rows, key=lambda r: (r[measure], -abs(math.log(r["nail_weight"]))))


# -- the whole evaluation --------------------------------------------------------------------------------------
def evaluate(client: OpenSearch, source: str, options: EvalOptions) -> EvalResult:
    """Index `source` once, then measure every mode of `options` on its `split`. See the module docstring."""
    from nail_os.evaluation.exact import FeatureMatrix, check_exactness
    from nail_os.evaluation.index import measure_sizes, prepare_index
    from nail_os.registry import default_model, resolve_model_dir

    started = time.monotonic()
    model = options.model or default_model()
    dataset = load_dataset(source, options.split)
    tune = load_dataset(source, options.tune_split) if options.tune_split else None
    index = options.index or f"eval-{dataset.name}-{dataset_name(model)}".lower()
    tokenizer = Tokenizer.from_model_dir(resolve_model_dir(model))
    timings: dict[str, float] = {}

    prepared = prepare_index(client, source, index, model=model, nail_field=options.nail_field,
                             reindex=options.reindex, device=options.device, features=options.features,
                             show_progress=options.show_progress)
    timings["index_s"] = time.monotonic() - started
    weights_source = "model"
    if options.query_weights == "index":
        table = index_statistics(client, index, options.nail_field).vocabulary_weights(tokenizer)
        if table is not None:  # the index's own IDF, as `search()` reads it query by query
            tokenizer, weights_source = replace(tokenizer, query_weights=table), "index"
    sizes = measure_sizes(client, source, index, model=model, nail_field=options.nail_field,
                          show_progress=options.show_progress)
    timings["sizes_s"] = time.monotonic() - started - timings["index_s"]

    # Quality: one run per mode at full depth. These passes also warm the node up for the timing below.
    mark = time.monotonic()
    base = QueryOptions(size=options.depth, nail_field=options.nail_field, max_clauses=options.max_clauses,
                        nail_weight=options.hybrid_weight, engine=engine_of(client).NAME,
                        hybrid_normalization=options.hybrid_normalization)
    runs: dict[str, Run] = {}
    took: dict[str, list[float]] = {}
    for mode in options.modes:
        runs[mode], took[mode] = run_queries(client, index, dataset.queries, tokenizer, replace(base, mode=mode),
                                             show_progress=options.show_progress, desc=f"{mode} {dataset.split}")
    quality = {mode: score_run(run, dataset.qrels) for mode, run in runs.items()}
    sweep = _sweep(client, index, dataset, tune, tokenizer, base, options, runs, quality)
    timings["quality_s"] = time.monotonic() - mark

    per_query_primary = {mode: per_query(run, dataset.qrels) for mode, run in runs.items()}
    significance = {
        mode: compare(scores, per_query_primary["bm25"], seed=options.seed)
        for mode, scores in per_query_primary.items() if mode != "bm25" and "bm25" in per_query_primary
    }

    mark = time.monotonic()
    bodies = {mode: _body_builder(tokenizer, replace(base, mode=mode, size=options.latency_size))
              for mode in options.modes}
    repeats = options.latency_repeats or max(MIN_LATENCY_PASSES, math.ceil(LATENCY_SAMPLES / len(dataset.queries)))
    samples = time_queries(client, index, dataset.queries, bodies, repeats=repeats, seed=options.seed)
    latency = {"size": options.latency_size, "repeats": repeats, "warmup_passes": 1,
               "queries": len(dataset.queries), **summarize_latency(samples)}
    latency["quality_pass_took_ms_mean"] = {m: sum(t) / len(t) for m, t in took.items() if t}
    timings["latency_s"] = time.monotonic() - mark

    exactness = None
    if "nail" in runs:
        matrix = FeatureMatrix.from_features(prepared.features, tokenizer.vocab_size)
        exactness = check_exactness(runs["nail"], dataset.queries, matrix, tokenizer, k=10,
                                    max_clauses=options.max_clauses)
    token_counts = [(sum(t.count for t in toks), len(toks)) for toks in
                    (select_tokens(tokenizer.tokenize_query(text), options.max_clauses, "prune")
                     for text in dataset.queries.values())]
    timings["total_s"] = time.monotonic() - started

    results = {
        "dataset": {"name": dataset.name, "source": source, "split": dataset.split, "queries": len(dataset.queries),
                    "judgments": dataset.judgments, "documents": len(prepared.features)},
        "model": model,
        "model_dir": str(resolve_model_dir(model)),
        "kind": collection_kind(resolve_model_dir(model), dataset.name),
        "query_weights": weights_source,  # "index": IDF over the index's own documents; "model": query_weights.json
        "index": {"name": index, "reused": prepared.reused, "ingest": prepared.ingest},
        "options": {k: (list(v) if isinstance(v, tuple) else str(v) if isinstance(v, Path) else v)
                    for k, v in asdict(options).items()},
        "quality": quality,
        "significance": significance,
        "hybrid_sweep": sweep,
        "latency": latency,
        "index_size": sizes,
        "features": {"postings_per_doc": posting_stats(prepared.features),
                     "query_tokens": query_token_stats(token_counts)},
        "exactness": exactness,
        "per_query": {PRIMARY: per_query_primary},
        "timings": timings,
    }
    return EvalResult(results, runs)


def _sweep(client: OpenSearch, index: str, dataset: Dataset, tune: Dataset | None, tokenizer: Tokenizer,
           base: QueryOptions, options: EvalOptions, runs: dict[str, Run], quality: dict[str, dict[str, float]]
           ) -> dict[str, Any]:
    """The hybrid sweep on the test split (its best is optimistic: tuned on test) and, with a tuning split,
    the weight chosen there and its test scores (an honest tuned hybrid)."""
    if "hybrid" not in options.modes or not options.sweep_weights:
        return {}
    known = {options.hybrid_weight: runs["hybrid"]}
    rows, test_runs = sweep_hybrid(client, index, dataset, tokenizer, base, options.sweep_weights, known=known,
                                   show_progress=options.show_progress)
    out: dict[str, Any] = {"weights": list(options.sweep_weights), "bm25_weight": 1.0, "test": rows,
                           "default": {"nail_weight": options.hybrid_weight, **quality["hybrid"]},
                           "best_on_test": best_row(rows)}
    if tune is not None:
        # Choosing a weight by nDCG@10 needs the top 10 only; 100 hits keep the tuning runs cheap.
        tune_rows, _ = sweep_hybrid(client, index, tune, tokenizer, replace(base, size=min(base.size, 100)),
                                    options.sweep_weights, measures=(PRIMARY, "RR@10"),
                                    show_progress=options.show_progress)
        chosen = best_row(tune_rows)["nail_weight"]
        out["tune_split"] = tune.split
        out["tune"] = tune_rows
        out["tuned"] = next(r for r in rows if r["nail_weight"] == chosen)
        runs["hybrid-tuned"] = test_runs[chosen]
        quality["hybrid-tuned"] = {k: v for k, v in out["tuned"].items() if k != "nail_weight"}
    return out


def _body_builder(tokenizer: Tokenizer, options: QueryOptions) -> Any:
    return lambda text: build_query(text, tokenizer, options)
