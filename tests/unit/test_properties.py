"""Property-based tests: for any input, feature naming, record parsing and query building either give what the
engine accepts or a clear error of our own type, never a crash. They extend test_features.py (name round trip,
quantization) and test_queries.py (body keys) rather than repeat them.
"""

from __future__ import annotations

import json
import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nail_os.corpus import parse_line
from nail_os.documents import DocumentError, nail_features, to_document
from nail_os.features import from_feature_name, stored_weight
from nail_os.queries import _WORD, QueryOptions, build_query

from .test_bad_input import problem

FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# Any Unicode code point, lone surrogates included: JSON can carry them as \udXXX escapes.
any_char = st.characters(categories=["L", "M", "N", "P", "S", "Z", "C"])
weights = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=1e-3, max_value=1e3),
    st.integers(min_value=-5, max_value=10**40),
    st.just(10**400),
    st.text(max_size=3),
    st.none(),
)


def vocab_token(tokenizer):
    return st.integers(min_value=0, max_value=tokenizer.vocab_size - 1).map(tokenizer.id_to_token)


# --- feature naming -----------------------------------------------------------------------------------------

@FAST
@given(data=st.data())
def test_valid_weights_give_id_names_and_stored_exact_weights(tokenizer, data):
    tokens = data.draw(st.dictionaries(vocab_token(tokenizer), st.floats(min_value=1e-30, max_value=1e30),
                                       min_size=1, max_size=40))
    top_k = data.draw(st.none() | st.integers(min_value=1, max_value=50))
    features = nail_features(tokens, tokenizer, top_k=top_k)
    assert 0 < len(features) <= min(len(tokens), top_k or len(tokens))
    for name, weight in features.items():
        assert name.isascii() and name.isdigit() and "." not in name  # the engine splits a field path at dots
        assert tokenizer.id_to_token(from_feature_name(name)) in tokens
        assert math.isfinite(weight) and weight > 0 and stored_weight(weight) == weight
    if top_k is not None:  # pruning keeps the heaviest: nothing dropped outweighs anything kept
        kept = {tokenizer.id_to_token(int(n)) for n in features}
        dropped = [w for t, w in tokens.items() if t not in kept]
        assert all(d <= min(features.values()) * (1 + 2**-8) for d in dropped)


@FAST
@given(data=st.data())
def test_any_features_give_valid_features_or_a_document_error(tokenizer, data):
    """NaN, inf, huge, negative, strings, unknown or empty names: a DocumentError naming the problem, or features
    the engine takes. (This found the OverflowError a weight over float32's range used to raise.)"""
    names = st.one_of(vocab_token(tokenizer), st.text(alphabet=any_char, max_size=12))
    raw = data.draw(st.dictionaries(names, weights, max_size=8))
    try:
        features = nail_features(raw, tokenizer)
    except DocumentError as exc:
        assert str(exc)
        return
    assert features and all(n.isdigit() and 0 < w <= 3.4028234663852886e38 for n, w in features.items())


# --- records ------------------------------------------------------------------------------------------------

texts = st.text(alphabet=any_char | st.characters(categories=["Cs"]), max_size=30)  # lone surrogates often
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)
records = st.fixed_dictionaries(
    {"_id": texts | st.integers() | json_values},
    optional={"title": texts, "text": texts | json_values, "metadata": json_values, "other": json_values,
              "features": st.dictionaries(texts, weights, max_size=4) | json_values},
)


@FAST
@given(obj=records, ascii_only=st.booleans())
def test_a_parsed_line_is_either_an_error_or_sendable(tokenizer, obj, ascii_only):
    """Whatever a JSONL line holds, the record is refused with a reason, or its document encodes as UTF-8 JSON.
    (This found the lone surrogate that used to fail the whole chunk's bulk request.)"""
    try:
        line = json.dumps(obj, ensure_ascii=ascii_only).encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate can only travel escaped
        line = json.dumps(obj).encode("utf-8")
    record = parse_line(line, "prop.jsonl", 1)
    if (reason := problem(record, tokenizer)) is not None:
        assert reason
        return
    assert isinstance(record.doc_id, str) and record.doc_id.strip()
    doc = to_document(record, record.features, tokenizer)
    json.dumps(doc, ensure_ascii=False, allow_nan=False).encode("utf-8")


@FAST
@given(raw=st.binary(max_size=200))
def test_any_bytes_give_a_record(raw):
    record = parse_line(raw, "prop.jsonl", 7)
    assert record.line == 7 and (record.error or record.doc_id)
    if record.raw is not None:
        record.raw.encode("utf-8")  # the rejects file can hold it


# --- query building -----------------------------------------------------------------------------------------

ADVERSARIAL = st.lists(st.sampled_from([*'"{}[]\\:,/*?~^()\'$#<>', "coffee", " ", "tea", "u.s.", "script",
                                        "\\u0000", "ctx._source"]), max_size=30).map("".join)


@FAST
@given(text=st.one_of(st.text(max_size=300), ADVERSARIAL), mode=st.sampled_from(["bm25", "nail", "hybrid"]),
       max_clauses=st.integers(min_value=2, max_value=2048))
def test_a_body_never_exceeds_the_clause_budget(tokenizer, text, mode, max_clauses):
    body = build_query(text, tokenizer, QueryOptions(mode=mode, max_clauses=max_clauses))
    assert json.loads(json.dumps(body)) == body  # plain JSON values only
    nail = json.dumps(body).count('"rank_feature"')
    words = sum(len(_WORD.findall(q)) for q in _strings(body, "query"))  # the BM25 text, after any cut
    assert nail + words <= max_clauses
    fields = [f for f in _strings(body, "field")]
    assert len(fields) == len(set(fields)), "one clause per distinct token"
    assert all(b > 0 and math.isfinite(b) for b in _numbers(body, "boost"))


@FAST
@given(text=st.one_of(ADVERSARIAL, st.text(max_size=100)))
def test_user_text_is_only_ever_a_whole_value(tokenizer, text):
    """Injection: the text appears as the BM25 `query` value unchanged (the client escapes it as a JSON string),
    and nowhere else: no key, no script, no field name is built from it."""
    body = build_query(text, tokenizer, QueryOptions(mode="hybrid"))
    values = list(_strings(body, "query"))
    if _WORD.search(text):
        assert values == [text]
    fixed = {"doc_id", "title", "text", "best_fields"}
    leaves = [s for s in _all_strings(body) if s not in fixed and s != text]
    assert all(s.startswith("nail.") and s[5:].isdigit() for s in leaves), leaves


def _strings(node, key):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key and isinstance(v, str):
                yield v
            yield from _strings(v, key)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item, key)


def _numbers(node, key):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key:
                yield v
            yield from _numbers(v, key)
    elif isinstance(node, list):
        for item in node:
            yield from _numbers(item, key)


def _all_strings(node):
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for v in node.values():
            yield from _all_strings(v)
    elif isinstance(node, list):
        for item in node:
            yield from _all_strings(item)
