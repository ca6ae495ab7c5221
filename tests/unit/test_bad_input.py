"""The kept bad-input corpus (tests/data/bad_inputs/): each case gets a clear error or a documented handling.

Documents and features are checked here without a node, line by line, as ingest checks them before sending;
`tests/integration/test_faults.py::test_bad_input_corpus_end_to_end` sends the same files to the real node.
Queries must always become a valid body: bad ones match nothing or are pruned, never a server error.
"""

from __future__ import annotations

import json
import math

import pytest

from nail_os.corpus import read_corpus, read_queries
from nail_os.documents import DocumentError, check_record, nail_features
from nail_os.queries import DEFAULT_MAX_CLAUSES, QueryError, QueryOptions, build_query

from ..conftest import ROOT

BAD = ROOT / "tests" / "data" / "bad_inputs"

# line → what the reader or the document check says (None: the record is good). Line 17 is blank (skipped).
DOCUMENT_LINES: dict[int, str | None] = {
    1: None,
    2: "malformed JSON: Expecting ',' delimiter at column 45",
    3: "expected a JSON object, got list",
    4: "missing or empty document id",
    5: "missing or empty document id",
    6: "missing or empty document id (one of _id, id, doc_id, docid), got ['a']",
    7: None,  # a duplicate of line 1's id: ingest keeps the first (test_faults checks the rejects file)
    8: "empty text",
    9: "empty text",
    10: None,  # control characters are text: kept as they are, escaped in JSON
    11: "unpaired UTF-16 surrogate",
    12: "longer than 512 bytes",
    13: "title and text must be strings",
    14: None,
    15: None,
    16: None,  # a script the vocabulary maps to [UNK]: the encoder still gives weights (from context tokens)
    18: "not valid UTF-8 (byte 0xe9 at offset 30)",
    19: None,
}

# id → the error nail_features raises (None: indexed, with what is kept).
FEATURE_CASES: dict[str, str | dict[str, float] | None] = {
    "f-ok": {"coffee": 1.5, "tea": 0.5},
    "f-nan": "weight for token 'coffee' is nan",
    "f-inf": "weight for token 'coffee' is inf",
    "f-minus-inf": "weight for token 'coffee' is -inf",
    "f-negative": "weight for token 'coffee' is -0.5",
    "f-all-zero": "no feature with a weight > 0",
    "f-some-zero": {"tea": 1.0},  # a zero weight adds nothing to a dot product: dropped, the rest kept
    "f-subnormal": {"tea": 1.0},  # under Float.MIN_NORMAL Lucene refuses the value: dropped
    "f-over-float32": "weight for token 'coffee' is 1e+39; rank_features stores a float32",
    "f-empty-name": "feature name '' is empty",
    "f-dotted-name": "token 'u.s.' is not in the model's vocabulary",
    "f-unknown-token": "token 'notatoken_xyz' is not in the model's vocabulary",
    "f-string-weight": "weight for token 'coffee' is 'heavy', not a number",
    "f-not-object": "features must be an object of token → weight, got list",
    "f-empty": "no feature with a weight > 0",
    "f-with-text": {"coffee": 2.0},
}


def problem(record, tokenizer) -> str | None:
    """What stops `record` from being indexed, as ingest checks it; None if it would be sent."""
    try:
        check_record(record, needs_text=record.features is None)
        if record.features is not None:
            nail_features(record.features, tokenizer)
    except DocumentError as exc:
        return str(exc)
    return None


def test_every_document_line_has_a_clear_outcome(tokenizer):
    records = {r.line: r for r in read_corpus(BAD / "documents.jsonl")}
    assert sorted(records) == sorted(DOCUMENT_LINES), "each non-blank line is one record, bad or good"
    for line, expected in DOCUMENT_LINES.items():
        found = problem(records[line], tokenizer)
        if expected is None:
            assert found is None, f"documents.jsonl:{line} should be accepted, got: {found}"
        else:
            assert found and expected in found, f"documents.jsonl:{line}: expected {expected!r}, got {found!r}"


def test_bad_lines_keep_their_raw_text_for_the_rejects_file():
    records = {r.line: r for r in read_corpus(BAD / "documents.jsonl")}
    assert records[2].raw == '{"_id": "broken", "text": "no closing brace"'
    assert records[18].raw == '{"_id": "latin1", "text": "caf\ufffd cr\ufffdme"}'
    json.dumps(records[11].raw).encode("utf-8")  # a lone surrogate is kept escaped: the file stays valid UTF-8
    assert records[11].doc_id == "lone-surrogate"


def test_surrogate_in_an_id_drops_the_id_not_the_report(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text('{"_id": "a\\udfffb", "text": "x"}\n{"_id": "pair-\\ud83d\\ude00", "text": "y"}\n')
    bad, good = read_corpus(path)
    assert bad.doc_id is None and "surrogate" in (bad.error or "")
    assert good.doc_id == "pair-\U0001f600" and good.error is None


def test_every_feature_case_has_a_clear_outcome(tokenizer):
    records = {r.doc_id: r for r in read_corpus(BAD / "features.jsonl")}
    assert sorted(records) == sorted(FEATURE_CASES)
    for doc_id, expected in FEATURE_CASES.items():
        record = records[doc_id]
        if isinstance(expected, dict):
            assert problem(record, tokenizer) is None, doc_id
            kept = nail_features(record.features, tokenizer)
            assert kept == {str(tokenizer.token_to_id(t)): w for t, w in expected.items()}, doc_id
        else:
            found = problem(record, tokenizer)
            assert found and expected in found, f"{doc_id}: expected {expected!r}, got {found!r}"


def test_feature_name_over_the_engine_term_limit_is_refused(tokenizer):
    """Lucene refuses a term over 32,766 bytes; such a name is no vocabulary token, so it never gets there."""
    with pytest.raises(DocumentError, match="not in the model's vocabulary"):
        nail_features({"a" * 40_000: 1.0}, tokenizer)


def test_weights_at_the_float32_edges(tokenizer):
    biggest = nail_features({"coffee": 3.4028234663852886e38}, tokenizer)
    assert math.isfinite(next(iter(biggest.values())))
    with pytest.raises(DocumentError, match="no feature with a weight > 0"):
        nail_features({"coffee": 1e-39}, tokenizer)  # subnormal: dropped, and then nothing is left


def test_a_one_megabyte_document_passes_the_checks(tokenizer):
    """Size alone is no error: the encoder reads its first tokens and ingest counts it as truncated."""
    from nail_os.corpus import Record

    record = Record("mem", 1, doc_id="big", text="Coffee is brewed from roasted beans. " * 28_000)
    assert len(record.text.encode()) > 1_000_000
    check_record(record, needs_text=True)


# --- queries ------------------------------------------------------------------------------------------------

QUERIES = read_queries(BAD / "queries.jsonl")
NOTHING = {"match_none": {}}


def keys(node) -> set[str]:
    if isinstance(node, dict):
        return set(node).union(*(keys(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(keys(v) for v in node))
    return set()


@pytest.mark.parametrize("mode", ["bm25", "nail", "hybrid"])
@pytest.mark.parametrize("query_id", sorted(QUERIES))
def test_bad_queries_give_a_valid_body(tokenizer, query_id, mode):
    body = build_query(QUERIES[query_id], tokenizer, QueryOptions(mode=mode))
    json.dumps(body).encode("utf-8")  # serialisable as the client will send it
    assert not keys(body) & {"script", "script_score", "template", "query_string", "source"}


@pytest.mark.parametrize("query_id", ["q-empty", "q-whitespace", "q-control"])
def test_queries_without_a_token_match_nothing(tokenizer, query_id):
    for mode in ("bm25", "nail", "hybrid"):
        assert build_query(QUERIES[query_id], tokenizer, QueryOptions(mode=mode))["query"] == NOTHING, mode


def test_a_script_the_vocabulary_lacks_is_left_to_bm25(tokenizer):
    """Every token is [UNK] (dropped): NAIL matches nothing, hybrid is BM25 alone on the words."""
    text = QUERIES["q-unk-script"]
    assert build_query(text, tokenizer, QueryOptions(mode="nail"))["query"] == NOTHING
    hybrid = build_query(text, tokenizer, QueryOptions(mode="hybrid"))["query"]
    assert hybrid == build_query(text, tokenizer, QueryOptions(mode="bm25"))["query"]
    assert hybrid["multi_match"]["query"] == text


def test_punctuation_only_is_a_nail_query_on_punctuation_tokens(tokenizer):
    """Documented handling: `?`, `!`, `.` are vocabulary tokens (NAIL weighs them); BM25 has no word to match."""
    text = QUERIES["q-punctuation"]
    nail = build_query(text, tokenizer, QueryOptions(mode="nail"))["query"]["bool"]["should"]
    assert {c["rank_feature"]["field"] for c in nail} >= {f"nail.{tokenizer.token_to_id('?')}"}
    assert build_query(text, tokenizer, QueryOptions(mode="bm25"))["query"] == NOTHING


def ten_thousand_tokens(tokenizer) -> str:
    words = [tokenizer.id_to_token(i) for i in range(2000, tokenizer.vocab_size)]
    words = [w for w in words if w.isalpha() and w.isascii()][:10_000]
    assert len(words) == 10_000
    return " ".join(words)


def test_a_ten_thousand_token_query_is_pruned_to_the_clause_limit(tokenizer):
    text = ten_thousand_tokens(tokenizer)
    nail = build_query(text, tokenizer, QueryOptions(mode="nail"))["query"]["bool"]["should"]
    assert len(nail) == DEFAULT_MAX_CLAUSES
    bm25, hybrid_nail = build_query(text, tokenizer, QueryOptions(mode="hybrid"))["query"]["bool"]["should"]
    assert len(bm25["multi_match"]["query"].split()) + len(hybrid_nail["bool"]["should"]) <= DEFAULT_MAX_CLAUSES
    with pytest.raises(QueryError, match="10000 distinct tokens, over the 1024 clauses"):
        build_query(text, tokenizer, QueryOptions(mode="nail", on_too_many="refuse"))


def test_query_that_is_not_valid_unicode_is_a_query_error(tokenizer):
    with pytest.raises(QueryError, match="UTF-8"):
        build_query("caf\udce9", tokenizer, QueryOptions(mode="nail"))
