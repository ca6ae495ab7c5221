"""Runs → scores (through ir-measures only), TREC run files, and paired significance tests.

A run is `{query_id: [(doc_id, score), ...]}` in rank order. Every metric comes from ir-measures;
nothing here computes nDCG or recall by hand. ir-measures scores a judged query that is missing from
a run as 0 and averages over all judged queries, so a query with no hits still counts against a mode.
"""

from __future__ import annotations

import gzip
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO

import numpy as np

from nail_os.errors import NailOSError

Run = dict[str, list[tuple[str, float]]]
Qrels = dict[str, dict[str, int]]

# The measures of the issue, named as ir-measures parses them. AP is reported under the literature's
# name MAP (mean over queries of average precision).
MEASURES: tuple[str, ...] = ("nDCG@10", "R@100", "R@1000", "RR@10", "AP")
DISPLAY_NAMES: dict[str, str] = {"AP": "MAP"}
PRIMARY = "nDCG@10"
# 10,000 permutations put the Monte-Carlo error of p = 0.05 at about ±0.004 (Smucker, Allan and Carterette,
# CIKM 2007, use 100,000 for a tighter bound; 10,000 is their "adequate" setting).
PERMUTATIONS = 10_000
ALPHA = 0.05


class RunFileError(NailOSError, ValueError):
    """A TREC run file line that does not have the six columns `qid Q0 docid rank score tag`."""


def _parsed(measures: Iterable[str]) -> list:
    import ir_measures

    return [ir_measures.parse_measure(m) for m in measures]


def _ir_inputs(run: Run, qrels: Qrels) -> tuple[list, list]:
    from ir_measures import Qrel, ScoredDoc

    qrel_list = [Qrel(q, d, int(r)) for q, docs in qrels.items() for d, r in docs.items()]
    run_list = [ScoredDoc(q, d, float(s)) for q, hits in run.items() for d, s in hits]
    return qrel_list, run_list


def score_run(run: Run, qrels: Qrels, measures: Sequence[str] = MEASURES) -> dict[str, float]:
    """Mean of each measure over the judged queries, keyed by the measure's ir-measures name.

    >>> score_run({"q1": [("d1", 2.0), ("d2", 1.0)]}, {"q1": {"d2": 1}}, ["RR@10"])
    {'RR@10': 0.5}
    """
    import ir_measures

    qrel_list, run_list = _ir_inputs(run, qrels)
    values = ir_measures.calc_aggregate(_parsed(measures), qrel_list, run_list)
    return {str(m): float(v) for m, v in values.items()}


def per_query(run: Run, qrels: Qrels, measure: str = PRIMARY) -> dict[str, float]:
    """`{query_id: value}` of one measure for every judged query (0 where the run has no hits for it)."""
    import ir_measures

    qrel_list, run_list = _ir_inputs(run, qrels)
    values = {m.query_id: float(m.value) for m in ir_measures.iter_calc(_parsed([measure]), qrel_list, run_list)}
    return {q: values.get(q, 0.0) for q in qrels}


def paired_randomization(a: Sequence[float], b: Sequence[float], *, permutations: int = PERMUTATIONS,
                         seed: int = 0) -> float:
    """Two-sided p-value of the paired randomisation (sign-flip) test of mean(a − b) = 0.

    Each permutation swaps the two systems' scores of every query with probability ½; p counts the
    permuted mean differences at least as extreme as the observed one, plus one for the observation
    itself (so p is never 0). Identical systems give p = 1.

    >>> paired_randomization([0.5, 0.7, 0.9], [0.5, 0.7, 0.9])
    1.0
    """
    if len(a) != len(b):
        raise ValueError(f"paired test needs two score lists of one length, got {len(a)} and {len(b)}")
    diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    if len(diff) == 0:
        raise ValueError("paired test needs at least one query, got none")
    observed = abs(diff.mean())
    if observed == 0.0:
        return 1.0
    rng = np.random.default_rng(seed)
    signs = rng.choice(np.array([-1.0, 1.0]), size=(permutations, len(diff)))  # shape (permutations, queries)
    permuted = np.abs(signs @ diff) / len(diff)
    # A tolerance keeps float noise in the sums from counting a tie as "less extreme".
    extreme = int(np.count_nonzero(permuted >= observed - 1e-12))
    return (extreme + 1) / (permutations + 1)


def paired_ttest(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided p-value of scipy's paired t-test; 1.0 when every difference is 0 (scipy gives NaN there)."""
    from scipy import stats

    if len(a) != len(b):
        raise ValueError(f"paired test needs two score lists of one length, got {len(a)} and {len(b)}")
    diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    if len(diff) < 2 or np.all(diff == 0):
        return 1.0  # no difference, or one query: no evidence either way
    if np.ptp(diff) <= 1e-12 * abs(diff.mean()):
        return 0.0  # the same non-zero difference on every query (up to float noise): t is infinite
    p = float(stats.ttest_rel(a, b).pvalue)
    return 1.0 if math.isnan(p) else p


def compare(system: Mapping[str, float], baseline: Mapping[str, float], *, seed: int = 0) -> dict[str, float | int]:
    """Paired tests of per-query scores `system` vs `baseline` over the queries they share."""
    queries = sorted(set(system) & set(baseline))
    a = [system[q] for q in queries]
    b = [baseline[q] for q in queries]
    return {
        "queries": len(queries),
        "mean": float(np.mean(a)) if a else 0.0,
        "baseline_mean": float(np.mean(b)) if b else 0.0,
        "delta": float(np.mean(a) - np.mean(b)) if a else 0.0,
        "wins": sum(x > y for x, y in zip(a, b, strict=True)),
        "losses": sum(x < y for x, y in zip(a, b, strict=True)),
        "p_randomization": paired_randomization(a, b, seed=seed) if a else 1.0,
        "p_ttest": paired_ttest(a, b) if a else 1.0,
    }


def significance_mark(p: float | None, alpha: float = ALPHA) -> str:
    """`†` when p < alpha, else nothing: the marker of the results tables."""
    return "†" if p is not None and p < alpha else ""


# -- TREC run files --------------------------------------------------------------------------------------------
def _open(path: Path, mode: str) -> IO[str]:
    if path.suffix == ".gz":
        return gzip.open(path, mode + "t", encoding="utf-8")  # type: ignore[return-value]
    return open(path, mode, encoding="utf-8")


def write_run(path: str | Path, run: Run, tag: str) -> Path:
    """Write `run` as a TREC run file (`qid Q0 docid rank score tag`); a `.gz` name is gzipped.

    Queries are written in sorted id order, hits in the run's rank order with ranks from 1. Scores keep
    7 significant digits: the engine's scores are float32, which holds about that many.
    """
    path = Path(path)
    if any(ch.isspace() for ch in tag) or not tag:
        raise RunFileError(f"run tag {tag!r} must be non-empty and contain no whitespace")
    path.parent.mkdir(parents=True, exist_ok=True)
    with _open(path, "w") as handle:
        for qid in sorted(run):
            for rank, (doc_id, score) in enumerate(run[qid], start=1):
                if any(ch.isspace() for ch in doc_id) or any(ch.isspace() for ch in qid):
                    raise RunFileError(f"query {qid!r} / doc {doc_id!r}: TREC run ids cannot contain whitespace")
                handle.write(f"{qid} Q0 {doc_id} {rank} {score:.7g} {tag}\n")
    return path


def read_run(path: str | Path) -> Run:
    """A TREC run file back as a run, hits in file order; a malformed line raises RunFileError naming it."""
    path = Path(path)
    run: Run = {}
    with _open(path, "r") as handle:
        for number, line in enumerate(handle, start=1):
            cols = line.split()
            if not cols:
                continue
            if len(cols) != 6:
                raise RunFileError(f"{path}:{number}: expected 6 columns (qid Q0 docid rank score tag), got {line!r}")
            try:
                score = float(cols[4])
            except ValueError:
                raise RunFileError(f"{path}:{number}: score {cols[4]!r} is not a number") from None
            run.setdefault(cols[0], []).append((cols[2], score))
    return run
