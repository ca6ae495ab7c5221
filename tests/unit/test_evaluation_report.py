"""Rendering of evaluation results: tables with significance marks, files on disk, the cross-dataset README."""

from __future__ import annotations

import json

from nail_os.evaluation import EvalResult
from nail_os.evaluation.metrics import read_run
from nail_os.evaluation.report import (
    mean_table,
    quality_table,
    render_markdown,
    summary_table,
    write_results,
    write_summary,
)


def scores(ndcg: float) -> dict[str, float]:
    return {"nDCG@10": ndcg, "R@100": 0.9, "R@1000": 0.95, "RR@10": 0.7, "AP": 0.5}


def clocks(p50: float) -> dict[str, dict[str, float]]:
    return {"client_ms": {"p50": p50, "p95": 2 * p50, "p99": 3 * p50, "mean": p50, "n": 30},
            "took_ms": {"p50": 1.0, "p95": 2.0, "p99": 3.0, "mean": 1.5, "n": 30}}


def make_results(name: str = "tiny") -> dict:
    size = {"bytes": 1048576, "docs": 100, "bytes_per_doc": 10485.76}
    return {
        "dataset": {"name": name, "source": f"/data/{name}", "split": "test", "queries": 10, "judgments": 20,
                    "documents": 100},
        "model": "splade-tiny", "model_dir": "/m", "index": {"name": f"eval-{name}", "reused": False, "ingest": {}},
        "options": {"hybrid_weight": 1.0},
        "quality": {"bm25": scores(0.6), "nail": scores(0.65), "hybrid": scores(0.7)},
        "significance": {"nail": {"p_randomization": 0.2}, "hybrid": {"p_randomization": 0.01}},
        "hybrid_sweep": {"test": [{"nail_weight": 0.5, **scores(0.68)}, {"nail_weight": 1.0, **scores(0.7)},
                                  {"nail_weight": 2.0, **scores(0.72)}],
                         "best_on_test": {"nail_weight": 2.0, **scores(0.72)}},
        "latency": {"size": 10, "repeats": 3, "queries": 10,
                    "modes": {"bm25": clocks(2.0), "nail": clocks(3.0), "hybrid": clocks(4.0)},
                    "ratios": {"bm25": {"client_ms": {"p50": 1.0}}, "nail": {"client_ms": {"p50": 1.5}},
                               "hybrid": {"client_ms": {"p50": 2.0}}}},
        "index_size": {"bm25_only": size, "full": {**size, "bytes": 3 * 1048576},
                       "nail_field": {"bytes": 2 * 1048576, "bytes_per_doc": 20971.52}},
        "features": {"postings_per_doc": {"mean": 200.0, "median": 210, "max": 256},
                     "query_tokens": {"tokens_mean": 12.0, "distinct_tokens_mean": 10.5}},
        "exactness": {"k": 10, "queries": 10, "identical": 9, "identical_fraction": 0.9, "identical_stored": 10,
                      "explained_by_ties": 0, "unexplained_count": 0, "mean_overlap": 1.0},
        "timings": {"total_s": 60.0, "index_s": 40.0, "sizes_s": 2.0, "quality_s": 15.0, "latency_s": 3.0},
    }


def test_quality_table_marks_significant_modes_only():
    table = quality_table(make_results())
    rows = {line.split(" | ")[0].lstrip("| "): line for line in table.splitlines()[2:]}
    assert rows["bm25"] == "| bm25 | 0.600 | 0.900 | 0.950 | 0.700 | 0.500 | 1.00 |"
    assert "| 0.650 |" in rows["nail"]  # p = 0.2: no mark
    assert "| 0.700† |" in rows["hybrid (w=1, fixed)"]
    assert rows["hybrid (w=2, best on test: optimistic)"].endswith("| 0.500 | – |")
    assert table.splitlines()[0] == "| mode | nDCG@10 | R@100 | R@1000 | RR@10 | MAP | p50 × BM25 |"


def test_markdown_has_every_section():
    text = render_markdown(make_results())
    for heading in ("## Quality", "## Latency", "## Index size", "## Exactness", "## Hybrid weight sweep", "## Run"):
        assert heading in text
    assert "| BM25 + NAIL | 3.00 | 10486 | 100 |" in text
    assert "identical for 9/10 queries (90.0%)" in text


def test_files_and_summary(tmp_path):
    run = {"1": [("d1", 2.0), ("d2", 1.0)]}
    written = write_results(EvalResult(make_results(), {"bm25": run}), tmp_path / "tiny", {"command": "nail-os eval x"})
    names = {p.name for p in written}
    assert {"results.json", "results.md", "bm25.trec.gz", "quality.png", "quality_latency.png",
            "hybrid_sweep.png"} <= names
    saved = json.loads((tmp_path / "tiny" / "results.json").read_text())
    assert saved["environment"]["command"] == "nail-os eval x" and saved["runs"] == {"bm25": "runs/bm25.trec.gz"}
    assert read_run(tmp_path / "tiny" / saved["runs"]["bm25"]) == run

    write_results(EvalResult(make_results("other"), {}), tmp_path / "other", {}, plots=False)
    readme = write_summary(tmp_path, run_info={"command": "eval/run_all", "seconds": 600, "timestamp": "now"})
    text = readme.read_text()
    assert "| other | hybrid (w=1, fixed) | 0.700† |" in text and "| tiny | bm25 | 0.600 |" in text
    assert "`eval/run_all` took 10.0 min" in text
    # The run record survives a regeneration without it.
    assert "took 10.0 min" in write_summary(tmp_path).read_text()


def test_summary_table_rows_per_dataset_and_mode():
    table = summary_table([make_results("a"), make_results("b")])
    assert len(table.splitlines()) == 2 + 2 * 3


def test_mean_table_averages_datasets_and_names_the_weakest():
    weak = make_results("weak")
    weak["quality"]["hybrid"] = scores(0.61)  # +0.01 over its BM25, where "a" has +0.10
    table = mean_table([make_results("a"), weak])
    rows = {line.split(" | ")[0].strip("| "): line for line in table.splitlines()[2:]}
    assert set(rows) == {"bm25", "nail", "hybrid (w=1, fixed)"}
    assert "| 0.6550 | +0.0550 | +0.0100 (weak) | 0.9000 |" in rows["hybrid (w=1, fixed)"]
    assert "| 0.6500 | +0.0500 | +0.0500 (a) |" in rows["nail"]


def test_summary_compares_the_models_run_into_subfolders(tmp_path):
    write_results(EvalResult(make_results("a"), {}), tmp_path / "a", {}, plots=False)
    assert "## Models compared" not in write_summary(tmp_path).read_text()
    other = make_results("a")
    other["model"], other["quality"]["nail"] = "/models/other-model", scores(0.5)
    write_results(EvalResult(other, {}), tmp_path / "other" / "a", {}, plots=False)
    (tmp_path / "training" / "run").mkdir(parents=True)  # a training run's results.json is not an eval's
    (tmp_path / "training" / "run" / "results.json").write_text('{"test": {}}')
    text = write_summary(tmp_path).read_text()
    kind = make_results("a").get("kind", "not recorded")  # one row per kind of collection, never a mixed mean
    assert f"| splade-tiny | {kind}: a | 0.6000 | 0.6500 | 0.9000 | 0.7000 | 0.9000 | 200 |" in text
    assert f"| [other-model](other/README.md) | {kind}: a | 0.6000 | 0.5000 |" in text and "training" not in text


def test_models_compared_keep_each_kind_of_collection_in_its_own_row(tmp_path):
    for name, kind, nail in (("seen", "supervised", 0.9), ("unseen", "zero-shot", 0.5)):
        here = {**make_results(name), "kind": kind}
        write_results(EvalResult(here, {}), tmp_path / name, {}, plots=False)
        other = {**make_results(name), "kind": kind, "model": "/models/other-model"}
        other["quality"]["nail"] = scores(nail)
        write_results(EvalResult(other, {}), tmp_path / "other" / name, {}, plots=False)
    text = write_summary(tmp_path).read_text()
    assert "| [other-model](other/README.md) | supervised: seen | 0.6000 | 0.9000 |" in text
    assert "| [other-model](other/README.md) | zero-shot: unseen | 0.6000 | 0.5000 |" in text
    assert "| 0.6000 | 0.7000 |" not in text  # no NAIL mean over both kinds


def test_a_max_normalized_hybrid_says_so_in_its_label():
    from nail_os.evaluation.report import mode_label

    options = {"hybrid_weight": 1.0, "hybrid_normalization": "max"}
    assert mode_label({"options": options}, "hybrid") == "hybrid (w=1, fixed, max-normalized)"
    assert mode_label({"options": {"hybrid_weight": 1.0}}, "hybrid") == "hybrid (w=1, fixed)"  # older results
