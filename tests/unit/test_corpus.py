"""Reading corpora: every bad line is reported with file and line, and the good ones still come through."""

from __future__ import annotations

import gzip
import json

import pytest

from nail_os.corpus import CorpusError, qrels_splits, read_corpus, read_documents, read_qrels, read_queries
from nail_os.documents import DocumentError, check_record
from nail_os.train.data import load_beir

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


def test_gzipped_beir_folder_reads_as_the_plain_one(tmp_path):
    """BEIR folders ship gzipped too; the one reader (which training also uses) takes either."""
    (tmp_path / "qrels").mkdir()
    files = {
        "corpus.jsonl": '{"_id": "d1", "title": "T", "text": "one"}\n{"_id": "d2", "text": "two"}\n',
        "queries.jsonl": '{"_id": "q1", "text": "what"}\n',
        "qrels/test.tsv": "query-id\tcorpus-id\tscore\nq1\td2\t1\n",
    }
    plain, zipped = tmp_path / "plain", tmp_path / "zipped"
    for name, text in files.items():
        for folder, gz in ((plain, False), (zipped, True)):
            path = folder / (name + (".gz" if gz else ""))
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(gzip.compress(text.encode()) if gz else text.encode())
    for folder in (plain, zipped):
        assert [(r.doc_id, r.full_text) for r in read_documents(folder)] == [("d1", "T one"), ("d2", "two")]
        assert read_queries(folder) == {"q1": "what"}
        assert qrels_splits(folder) == ["test"] and read_qrels(folder, "test") == {"q1": {"d2": 1}}
    assert load_beir(zipped).doc_texts == load_beir(plain).doc_texts == ["T one", "two"]


def test_training_reader_raises_on_a_bad_line(tmp_path):
    (tmp_path / "corpus.jsonl").write_text('{"_id": "d1", "text": "x"}\n{not json\n')
    with pytest.raises(CorpusError, match=r"corpus.jsonl:2: malformed JSON"):
        read_documents(tmp_path)
