"""Is OpenSearch's NAIL ranking the exact dot product? Exhaustive in-process scoring of the same weights.

The features compared are the ones ingest sent (captured during the run, after validation and pruning),
and the query side is the one `build_query` uses (same tokens, boosts and clause-limit pruning). Each
query's engine top-k is compared with the exhaustive top-k twice: with the weights as sent, and with the
weights as `rank_features` stores them (float32 cut to its upper 16 bits, `features.stored_weight`).
A difference of the second kind that the scores do not explain would be a bug in the kit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nail_os.features import from_feature_name
from nail_os.queries import select_tokens
from nail_os.tokens import QueryToken, Tokenizer

# Lucene adds float32 clause scores; two stored-weight sums closer than this relative gap may swap ranks.
FLOAT32_TOLERANCE = 1e-5


def stored_weights(values: np.ndarray) -> np.ndarray:
    """Vectorised `features.stored_weight`: float32 with its lower 15 bits cleared (9 significant bits)."""
    bits = np.asarray(values, dtype=np.float32).view(np.uint32) & np.uint32(0xFFFF8000)
    return bits.view(np.float32).astype(np.float64)


@dataclass
class FeatureMatrix:
    """Documents × vocabulary weights (scipy CSR), rows in corpus order; `quantized` as the index stores them."""

    doc_ids: list[str]
    weights: Any  # scipy.sparse.csr_matrix, shape (docs, vocab)
    quantized: Any

    @classmethod
    def from_features(cls, features: Mapping[str, Mapping[str, float]], vocab_size: int) -> FeatureMatrix:
        """From `{doc_id: {feature name: weight}}` (feature names are token ids, see features.py)."""
        from scipy import sparse

        doc_ids = list(features)
        rows, cols, vals = [], [], []
        for row, doc_id in enumerate(doc_ids):
            for name, weight in features[doc_id].items():
                rows.append(row)
                cols.append(from_feature_name(name))
                vals.append(float(weight))
        shape = (len(doc_ids), vocab_size)
        values = np.asarray(vals, dtype=np.float64)
        weights = sparse.csr_matrix((values, (rows, cols)), shape=shape)
        quantized = sparse.csr_matrix((stored_weights(values), (rows, cols)), shape=shape)
        return cls(doc_ids, weights, quantized)

    def top_k(self, tokens: Sequence[QueryToken], k: int, *, quantized: bool = False) -> list[tuple[str, float]]:
        """Exhaustive Σ boost × weight over every document; ties keep corpus order; only scores > 0."""
        if not tokens:
            return []
        matrix = self.quantized if quantized else self.weights
        ids = np.asarray([t.token_id for t in tokens])
        boosts = np.asarray([t.boost for t in tokens], dtype=np.float64)
        scores = np.asarray(matrix[:, ids] @ boosts).ravel()  # shape (docs,)
        order = np.argsort(-scores, kind="stable")[:k]
        return [(self.doc_ids[i], float(scores[i])) for i in order if scores[i] > 0]


def same_up_to_precision(engine: Sequence[float], exact: Sequence[float], tol: float = FLOAT32_TOLERANCE) -> bool:
    """Do two score lists agree rank by rank within float32 summation error? (Then any swap is a tie.)

    >>> same_up_to_precision([3.0, 2.0], [3.0000001, 2.0])
    True
    """
    if len(engine) != len(exact):
        return False
    return all(abs(a - b) <= tol * max(abs(b), 1e-9) for a, b in zip(engine, exact, strict=True))


def check_exactness(
    engine_run: Mapping[str, Sequence[tuple[str, float]]],
    queries: Mapping[str, str],
    matrix: FeatureMatrix,
    tokenizer: Tokenizer,
    *,
    k: int = 10,
    max_clauses: int,
) -> dict[str, Any]:
    """Compare each query's engine top-`k` with exhaustive scoring; fractions over the queries of the run.

    `identical`: same ids in the same order as exact scoring of the weights sent. `identical_stored`:
    same as exact scoring of the weights as stored. `explained`: not identical, but the engine's scores
    equal the stored-weight scores rank by rank, so only ties differ. `unexplained` lists the others.
    """
    identical = identical_stored = explained = 0
    overlaps: list[float] = []
    unexplained: list[dict[str, Any]] = []
    for qid in engine_run:
        tokens = select_tokens(tokenizer.tokenize_query(queries[qid]), max_clauses, "prune")
        engine = list(engine_run[qid])[:k]
        engine_ids = [d for d, _ in engine]
        exact = matrix.top_k(tokens, k)
        stored = matrix.top_k(tokens, k, quantized=True)
        overlaps.append(len(set(engine_ids) & {d for d, _ in exact}) / max(len(exact), 1) if exact else 1.0)
        if engine_ids == [d for d, _ in exact]:
            identical += 1
        if engine_ids == [d for d, _ in stored]:
            identical_stored += 1
        elif same_up_to_precision([s for _, s in engine], [s for _, s in stored]):
            explained += 1
        else:
            unexplained.append({"query_id": qid, "engine": engine_ids, "exact_stored": [d for d, _ in stored]})
    n = len(engine_run)
    return {
        "k": k,
        "queries": n,
        "identical": identical,
        "identical_fraction": identical / n if n else 0.0,
        "identical_stored": identical_stored,
        "identical_stored_fraction": identical_stored / n if n else 0.0,
        "explained_by_ties": explained,
        "mean_overlap": float(np.mean(overlaps)) if overlaps else 0.0,
        "unexplained": unexplained[:20],
        "unexplained_count": len(unexplained),
    }
