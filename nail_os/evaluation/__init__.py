"""Evaluation: BM25, NAIL and their server-side hybrid measured through the engine, and the reports.

    evaluate.py    `nail-os eval` as a function: index once, run every judged query per mode, score, compare
    index.py       the evaluation's index, built through `ingest()` (whose per-document results keep the features)
    exact.py       the engine's NAIL top-10 against exhaustive in-process scoring of the same features
    metrics.py     runs, ir-measures scores, per-query significance, TREC run files
    efficiency.py  latency (modes interleaved on one node), index size, posting statistics
    report.py      results.json / results.md / runs; plots.py draws the figures (matplotlib, on demand)
    synthetic.py   a synthetic corpus fitted to a real one, for size and latency at scale

Names: a *run* is `metrics.Run`, each query's ranked `(doc_id, score)` list. *hybrid* is the engine's raw
weighted sum of the BM25 and NAIL scores (`QueryOptions(mode="hybrid")`); the training loop's min-max fusion of
two in-process runs is called *fused* (`nail_os.train.evaluate.fuse`).

The names of `evaluate.py` are re-exported here, where they were importable before the package existed.
"""

from __future__ import annotations

from nail_os.evaluation.evaluate import (
    DEFAULT_HYBRID_WEIGHT,
    DEFAULT_SWEEP,
    LATENCY_SIZE,
    RUN_DEPTH,
    Dataset,
    EvalOptions,
    EvalResult,
    EvaluationError,
    best_row,
    collection_kind,
    dataset_name,
    evaluate,
    load_dataset,
    run_queries,
    sweep_hybrid,
)

__all__ = [
    "DEFAULT_HYBRID_WEIGHT", "DEFAULT_SWEEP", "LATENCY_SIZE", "RUN_DEPTH", "Dataset", "EvalOptions", "EvalResult",
    "EvaluationError", "best_row", "collection_kind", "dataset_name", "evaluate", "load_dataset", "run_queries",
    "sweep_hybrid",
]
