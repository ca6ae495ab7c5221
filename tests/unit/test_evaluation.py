"""The pure parts of `nail-os eval`: scoring through ir-measures, TREC run files, paired tests, latency math,
exhaustive scoring, and the tables. Every expected value here can be checked by hand."""

from __future__ import annotations

import gzip
import math

import numpy as np
import pytest

from nail_os.evaluation import EvalOptions, EvaluationError, best_row, dataset_name, load_dataset
from nail_os.evaluation.efficiency import interleaved_schedule, latency_ratios, percentiles, ratio, size_breakdown
from nail_os.evaluation.exact import FeatureMatrix, same_up_to_precision, stored_weights
from nail_os.evaluation.metrics import (
    RunFileError,
    compare,
    paired_randomization,
    paired_ttest,
    per_query,
    read_run,
    score_run,
    significance_mark,
    write_run,
)
from nail_os.features import stored_weight
from nail_os.tokens import QueryToken

QRELS = {"q1": {"d1": 1, "d3": 1}, "q2": {"d2": 2}}
RUN = {"q1": [("d1", 3.0), ("d2", 2.0), ("d3", 1.0)], "q2": [("d9", 5.0), ("d2", 4.0)]}


# -- scores come from ir-measures, over every judged query --------------------------------------------------------
def test_scores_by_hand():
    scores = score_run(RUN, QRELS)
    # q1: relevant at ranks 1 and 3 → RR 1, AP (1/1 + 2/3)/2; q2: relevant at rank 2 → RR 1/2, AP 1/2.
    assert scores["RR@10"] == pytest.approx((1 + 0.5) / 2)
    assert scores["AP"] == pytest.approx(((1 + 2 / 3) / 2 + 0.5) / 2)
    assert scores["R@100"] == pytest.approx(1.0)
    # q1 nDCG@10: (1 + 1/log2(4)) / (1 + 1/log2(3)); q2: (2/log2(3)) / 2.
    q1 = (1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3))
    q2 = (2 / math.log2(3)) / 2
    assert scores["nDCG@10"] == pytest.approx((q1 + q2) / 2)


def test_a_judged_query_without_hits_counts_as_zero():
    run = {"q1": RUN["q1"]}
    assert per_query(run, QRELS)["q2"] == 0.0
    assert score_run(run, QRELS, ["RR@10"])["RR@10"] == pytest.approx(0.5)


# -- TREC run files ------------------------------------------------------------------------------------------------
def test_run_file_round_trip_gzipped(tmp_path):
    path = write_run(tmp_path / "runs" / "bm25.trec.gz", RUN, tag="nail-os-bm25")
    with gzip.open(path, "rt") as handle:
        first = handle.readline()
    assert first == "q1 Q0 d1 1 3 nail-os-bm25\n"
    assert read_run(path) == RUN


def test_run_file_errors_name_the_line(tmp_path):
    path = tmp_path / "bad.trec"
    path.write_text("q1 Q0 d1 1 3.0 tag\nq1 Q0 d2 2 tag\n")
    with pytest.raises(RunFileError, match=r"bad.trec:2: expected 6 columns"):
        read_run(path)
    with pytest.raises(RunFileError, match="whitespace"):
        write_run(tmp_path / "x.trec", {"q 1": [("d", 1.0)]}, tag="t")


# -- significance --------------------------------------------------------------------------------------------------
def test_randomization_test_on_identical_and_clearly_different_systems():
    a = [0.2, 0.4, 0.6, 0.8] * 10
    assert paired_randomization(a, a) == 1.0
    better = [x + 0.1 for x in a]
    # Every one of 40 differences is +0.1: only the all-same-sign flips are as extreme (2 of 2^40), so p is
    # the floor 1 / (permutations + 1).
    assert paired_randomization(better, a, permutations=999) == pytest.approx(1 / 1000)
    assert paired_ttest(better, a) == 0.0


def test_randomization_and_ttest_agree_on_noisy_data():
    rng = np.random.default_rng(7)
    base = rng.random(200)
    noisy = base + rng.normal(0.0, 0.2, 200)
    p_perm, p_t = paired_randomization(noisy, base), paired_ttest(noisy, base)
    assert 0.05 < p_perm < 1 and abs(p_perm - p_t) < 0.05


def test_compare_counts_wins_and_marks():
    result = compare({"q1": 0.5, "q2": 0.9, "q3": 0.1}, {"q1": 0.4, "q2": 0.9, "q3": 0.3, "q4": 1.0})
    assert (result["queries"], result["wins"], result["losses"]) == (3, 1, 1)
    assert result["delta"] == pytest.approx((0.5 + 0.9 + 0.1 - 0.4 - 0.9 - 0.3) / 3)
    assert significance_mark(0.01) == "†" and significance_mark(0.05) == "" and significance_mark(None) == ""


def test_paired_tests_refuse_unequal_lengths():
    with pytest.raises(ValueError, match="got 2 and 3"):
        paired_randomization([0.1, 0.2], [0.1, 0.2, 0.3])


# -- latency math on given numbers ---------------------------------------------------------------------------------
def test_percentiles_and_ratios():
    bm25 = percentiles([1.0, 2.0, 3.0, 4.0, 100.0])
    assert (bm25["p50"], bm25["n"], bm25["mean"]) == (3.0, 5, 22.0)
    assert bm25["p95"] == pytest.approx(4 + 0.8 * 96)  # numpy's linear interpolation between 4 and 100
    nail = {"p50": 4.5, "p95": 80.8, "p99": 97.0, "mean": 30.0}
    ratios = latency_ratios({"bm25": {"client_ms": bm25}, "nail": {"client_ms": nail}})
    assert ratios["bm25"]["client_ms"] == {"p50": 1.0, "p95": 1.0, "p99": 1.0, "mean": 1.0}
    assert ratios["nail"]["client_ms"]["p50"] == pytest.approx(1.5)
    assert ratios["nail"]["client_ms"]["mean"] == pytest.approx(30 / 22)
    assert ratio(3.0, 0.0) is None  # a `took` of 0 ms has no ratio


def test_latency_ratios_need_the_baseline():
    with pytest.raises(ValueError, match="'bm25' mode as baseline; modes given: nail"):
        latency_ratios({"nail": {"client_ms": {"p50": 1.0}}})


def test_schedule_interleaves_and_rotates_modes():
    modes = ["bm25", "nail", "hybrid"]
    schedule = interleaved_schedule(["a", "b", "c"], modes, repeats=2, seed=3)
    assert len(schedule) == 18
    blocks = [schedule[i:i + 3] for i in range(0, 18, 3)]
    assert all(len({q for q, _ in block}) == 1 and sorted(m for _, m in block) == sorted(modes) for block in blocks)
    assert [block[0][1] for block in blocks] == ["bm25", "nail", "hybrid"] * 2  # each mode leads equally often


def test_size_breakdown_is_the_difference():
    sizes = size_breakdown({"bytes": 1000, "docs": 10, "bytes_per_doc": 100.0}, {"bytes": 4000, "docs": 10})
    assert sizes["nail_field"] == {"bytes": 3000, "bytes_per_doc": 300.0, "ratio_to_bm25_only": 3.0}
    assert sizes["full_to_bm25_only"] == 4.0


# -- exhaustive scoring --------------------------------------------------------------------------------------------
def test_stored_weights_match_the_scalar_version():
    values = np.array([0.1234567, 1.0, 2.71828, 13.37, 1e-3])
    assert stored_weights(values).tolist() == [stored_weight(v) for v in values]


def test_exhaustive_top_k_is_the_dot_product_with_corpus_order_ties():
    matrix = FeatureMatrix.from_features({"a": {"5": 1.0, "7": 2.0}, "b": {"5": 3.0}, "c": {"7": 1.5}, "d": {"9": 1.0}},
                                         vocab_size=10)
    tokens = [QueryToken(5, "x", 1), QueryToken(7, "y", 2)]  # boosts 1 and 2
    # a: 1 + 2*2 = 5, b: 3, c: 2*1.5 = 3 (tie with b: corpus order), d: no match.
    assert matrix.top_k(tokens, 10) == [("a", 5.0), ("b", 3.0), ("c", 3.0)]
    assert same_up_to_precision([5.0, 3.0], [5.00000001, 3.0]) and not same_up_to_precision([5.0], [5.1])


# -- options and inputs ---------------------------------------------------------------------------------------------
def test_options_name_what_is_wrong():
    with pytest.raises(EvaluationError, match="modes bm26"):
        EvalOptions(modes=("bm26",))  # type: ignore[arg-type]
    with pytest.raises(EvaluationError, match="must be > 0"):
        EvalOptions(sweep_weights=(0.0, 1.0))


def test_best_row_prefers_equal_weights_on_ties():
    rows = [{"nail_weight": w, "nDCG@10": s} for w, s in ((0.1, 0.5), (1.0, 0.7), (5.0, 0.7))]
    assert best_row(rows)["nail_weight"] == 1.0


def test_dataset_from_a_beir_folder(data):
    dataset = load_dataset(str(data / "medline"), "test")
    assert (dataset.name, len(dataset.queries), dataset.judgments) == ("medline", 29, 682)
    assert dataset_name("irds:beir/scifact/test") == "beir-scifact-test"


def test_an_unknown_source_is_named():
    from nail_os.corpus import CorpusError

    with pytest.raises(CorpusError, match="'irds:no/such-dataset' is neither a BEIR folder nor a known ir_datasets"):
        load_dataset("irds:no/such-dataset")


def test_cli_rejects_unknown_modes_before_touching_the_node():
    from click.testing import CliRunner

    from nail_os.cli.main import main

    result = CliRunner().invoke(main, ["--url", "http://127.0.0.1:1", "eval", "x", "--modes", "bm25,splade"])
    assert result.exit_code == 2 and "splade: choose from bm25, nail, hybrid" in result.output


def test_tuning_on_the_test_split_is_refused():
    with pytest.raises(EvaluationError, match="--tune-split 'test' is the split under test"):
        EvalOptions(split="test", tune_split="test")
