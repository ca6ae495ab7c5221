"""Reading corpora: every bad line is reported with file and line, and the good ones still come through."""

from __future__ import annotations

import json

import pytest

from nail_os.corpus import CorpusError, read_corpus, read_qrels, read_queries
from nail_os.documents import DocumentError, check_record

from ..conftest import ROOT

BAD = ROOT / "ingest" / "samples" / "bad.jsonl"


def test_bad_sample_file_names_each_bad_line():
    records = list(read_corpus(BAD))
    errors = {r.line: r.error for r in records if r.error}
    assert "malformed JSON" in errors[2]
    assert "missing or empty document id" in errors[3]
    assert "not valid UTF-8" in errors[4]
    assert "expected a JSON object" in errors[5]
    good = [r.doc_id for r in records if not r.error]
    assert good == ["good-1", "empty-text", "good-2", "u.s.-dotted", "nan-weight"]


def test_empty_text_is_caught_before_encoding():
    record = next(r for r in read_corpus(BAD) if r.doc_id == "empty-text")
    with pytest.raises(DocumentError, match="empty text"):
        check_record(record, needs_text=True)


def test_beir_folder(data):
    first = next(read_corpus(data / "scifact"))
    assert first.doc_id and first.title and first.text and first.error is None
    assert first.where.startswith(str(data / "scifact" / "corpus.jsonl"))


def test_queries_and_qrels(data):
    queries = read_queries(data / "scifact")
    qrels = read_qrels(data / "scifact", "test")
    assert len(qrels) == 300 and set(qrels) <= set(queries)


def test_integer_ids_become_strings(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps({"id": 7, "text": "x"}) + "\n")
    assert next(read_corpus(path)).doc_id == "7"


def test_unknown_source_is_a_clear_error():
    with pytest.raises(CorpusError, match="neither a file"):
        list(read_corpus("no/such/dataset-xyz"))
