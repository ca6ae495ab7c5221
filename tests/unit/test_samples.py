"""`ingest/samples/` holds one tiny file per accepted input; each reads as its README says."""

from __future__ import annotations

from pathlib import Path

from nail_os.corpus import read_corpus, read_qrels, read_queries

SAMPLES = Path(__file__).resolve().parents[2] / "ingest" / "samples"


def test_the_beir_sample_is_a_beir_folder():
    records = list(read_corpus(str(SAMPLES / "beir")))
    assert [r.doc_id for r in records] == ["d1", "d2", "d3"] and all(r.full_text and not r.error for r in records)
    assert set(read_queries(SAMPLES / "beir")) == {"q1", "q2"}
    assert read_qrels(SAMPLES / "beir", "test")["q1"] == {"d1": 1, "d3": 1}


def test_the_encoded_sample_carries_features():
    records = list(read_corpus(str(SAMPLES / "encoded.jsonl")))
    assert [r.doc_id for r in records] == ["e1", "e2"] and all(r.features for r in records)


def test_the_bad_sample_names_the_line_of_each_unreadable_record():
    records = list(read_corpus(str(SAMPLES / "bad.jsonl")))
    assert [r.line for r in records if r.error] == [2, 3, 4, 5]  # broken JSON, no id, not UTF-8, not an object
    assert {"good-1", "good-2", "empty-text", "nan-weight"} <= {r.doc_id for r in records if not r.error}
