"""Query bodies: linear rank_feature clauses, counts as boosts, hybrid weights, clause limits."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nail_os.queries import QueryError, QueryOptions, build_query
from nail_os.tokens import QueryToken


def clauses(body):
    return body["query"]["bool"]["should"]


def test_nail_query_is_a_bool_of_linear_rank_features(tokenizer):
    body = build_query("coffee tea coffee", tokenizer, QueryOptions(mode="nail"))
    coffee, tea = tokenizer.token_to_id("coffee"), tokenizer.token_to_id("tea")
    assert clauses(body) == [
        {"rank_feature": {"field": f"nail.{coffee}", "linear": {}, "boost": 2.0}},
        {"rank_feature": {"field": f"nail.{tea}", "linear": {}}},
    ]


def test_dotted_tokens_become_id_feature_names(tokenizer):
    body = build_query("u.s.", tokenizer, QueryOptions(mode="nail"))
    fields = [c["rank_feature"]["field"] for c in clauses(body)]
    assert all(f.count(".") == 1 and f.split(".")[1].isdigit() for f in fields)


def test_query_weights_become_boosts(tokenizer):
    coffee = tokenizer.token_to_id("coffee")
    tokenizer.query_weights[coffee] = 3.0
    try:
        body = build_query("coffee coffee", tokenizer, QueryOptions(mode="nail"))
    finally:
        del tokenizer.query_weights[coffee]
    assert clauses(body)[0]["rank_feature"]["boost"] == 6.0


def test_hybrid_is_one_weighted_bool(tokenizer):
    body = build_query("coffee", tokenizer, QueryOptions(mode="hybrid", bm25_weight=0.3, nail_weight=2.0))
    bm25, nail = clauses(body)
    assert bm25["multi_match"]["boost"] == 0.3 and bm25["multi_match"]["query"] == "coffee"
    assert nail["bool"]["boost"] == 2.0


def test_hybrid_on_combined_fields_weights_the_bm25f_part(tokenizer):
    options = QueryOptions(mode="hybrid", bm25_query="combined_fields", bm25_weight=0.3, named=True)
    bm25, nail = clauses(build_query("coffee", tokenizer, options))
    assert bm25 == {"combined_fields": {"query": "coffee", "fields": ["title", "text"], "_name": "bm25", "boost": 0.3}}
    assert "bool" in nail
    with pytest.raises(QueryError, match="bm25_query 'match' is not one of multi_match, combined_fields"):
        QueryOptions(mode="bm25", bm25_query="match")  # type: ignore[arg-type]


def test_bm25_needs_no_tokenizer():
    body = build_query("coffee", None, QueryOptions(mode="bm25"))
    assert body["query"]["multi_match"]["fields"] == ["title", "text"]


@pytest.mark.parametrize("text", ["", "   ", "[UNK]", "\u0000\u0001"])
def test_queries_without_tokens_match_nothing(tokenizer, text):
    assert build_query(text, tokenizer, QueryOptions(mode="nail"))["query"] == {"match_none": {}}


def vocab_words(tokenizer, n):
    """`n` distinct whole-word vocabulary entries: each is exactly one query token."""
    words = (tokenizer.id_to_token(i) for i in range(2000, tokenizer.vocab_size))
    return [w for w in words if w.isalpha() and w.isascii() and w != "coffee"][:n]


def test_long_queries_are_pruned_by_boost_or_refused(tokenizer):
    text = " ".join(vocab_words(tokenizer, 3000)) + " coffee coffee coffee"
    body = build_query(text, tokenizer, QueryOptions(mode="nail", max_clauses=100))
    kept = clauses(body)
    assert len(kept) == 100
    assert kept[0]["rank_feature"]["field"] == f"nail.{tokenizer.token_to_id('coffee')}"
    with pytest.raises(QueryError, match="max_clause_count"):
        build_query(text, tokenizer, QueryOptions(mode="nail", max_clauses=100, on_too_many="refuse"))


def test_hybrid_shares_the_clause_budget(tokenizer):
    text = " ".join(vocab_words(tokenizer, 5000))
    body = build_query(text, tokenizer, QueryOptions(mode="hybrid", max_clauses=1024))
    bm25, nail = clauses(body)
    assert len(bm25["multi_match"]["query"].split()) * 2 <= 512  # one term clause per word and field
    assert len(nail["bool"]["should"]) <= 512


def test_unknown_mode_is_refused():
    with pytest.raises(QueryError, match="mode"):
        QueryOptions(mode="dense")  # type: ignore[arg-type]


def walk(node):
    """Every (key, value) pair of a JSON body, depth first."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield key, value
            yield from walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from walk(item)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_user_text_never_leaks_into_structure(tokenizer, text):
    """Injection: the text is a JSON value or token ids, never part of a key or a script."""
    body = build_query(text, tokenizer, QueryOptions(mode="hybrid"))
    keys = {key for key, _ in walk(body)}
    assert keys <= {"size", "_source", "query", "bool", "should", "boost", "match_none", "multi_match",
                    "fields", "type", "tie_breaker", "rank_feature", "field", "linear"}
    for key, value in walk(body):
        if key == "field":
            assert value.startswith("nail.") and value[5:].isdigit()


def test_query_token_boost():
    assert QueryToken(1, "a", 3, 0.5).boost == 1.5


def test_neural_sparse_body_carries_the_same_tokens(tokenizer):
    body = build_query("coffee coffee tea", tokenizer, QueryOptions(mode="nail", nail_query="neural_sparse"))
    tokens = body["query"]["neural_sparse"]["nail"]["query_tokens"]
    assert tokens == {str(tokenizer.token_to_id("coffee")): 2.0, str(tokenizer.token_to_id("tea")): 1.0}
    hybrid = build_query("coffee", tokenizer, QueryOptions(mode="hybrid", nail_query="neural_sparse", nail_weight=3))
    assert hybrid["query"]["bool"]["should"][1] == {"bool": {"should": [{"neural_sparse": {"nail": {
        "query_tokens": {str(tokenizer.token_to_id("coffee")): 1.0}}}}], "boost": 3}}


def test_cjk_characters_count_as_one_term_each():
    body = build_query("日本語のテキスト" * 100, None, QueryOptions(mode="bm25", max_clauses=20))
    assert body["query"]["multi_match"]["query"] == "日 本 語 の テ キ ス ト 日 本"  # 10 words × 2 fields


def test_server_side_sends_the_text_in_one_nail_clause():
    body = build_query("vitamin d", None, QueryOptions(mode="nail", server_side=True))
    assert body["query"] == {"nail": {"field": "nail", "query": "vitamin d", "model": "nail-minilm",
                                      "max_clauses": 1024}}


def test_server_side_hybrid_weights_both_parts_and_shares_the_budget():
    options = QueryOptions(mode="hybrid", server_side=True, bm25_weight=0.5, nail_weight=2.0, max_clauses=100)
    bm25, nail = build_query("vitamin d", None, options)["query"]["bool"]["should"]
    assert bm25["multi_match"]["boost"] == 0.5
    assert nail["nail"]["boost"] == 2.0 and nail["nail"]["max_clauses"] == 50


def test_server_side_runs_on_elasticsearch_too():
    body = build_query("vitamin d", None, QueryOptions(mode="nail", server_side=True, engine="elasticsearch"))
    assert body["query"]["nail"]["query"] == "vitamin d"


@pytest.mark.parametrize("options", [dict(on_too_many="refuse"), dict(named=True)])
def test_server_side_refuses_what_the_plugin_cannot_do(options):
    with pytest.raises(QueryError, match="server_side"):
        QueryOptions(server_side=True, **options)


def test_max_normalized_hybrid_is_one_nail_hybrid_query_with_the_weights():
    options = QueryOptions(mode="hybrid", server_side=True, hybrid_normalization="max", bm25_weight=0.7,
                           nail_weight=0.3, max_clauses=100)
    hybrid = build_query("vitamin d", None, options)["query"]["nail_hybrid"]
    bm25, nail = hybrid["queries"]
    assert hybrid["weights"] == [0.7, 0.3] and hybrid["normalization"] == "max"
    # The weights live in nail_hybrid only: the parts carry no boost of their own, and share the clause budget.
    assert "boost" not in bm25["multi_match"] and "boost" not in nail["nail"]
    assert nail["nail"]["max_clauses"] == 50


def test_max_normalized_hybrid_wraps_the_client_built_nail_body_too(tokenizer):
    options = QueryOptions(mode="hybrid", hybrid_normalization="max")
    bm25, nail = build_query("coffee tea", tokenizer, options)["query"]["nail_hybrid"]["queries"]
    assert "multi_match" in bm25 and len(nail["bool"]["should"]) == 2


def test_max_normalized_hybrid_with_one_part_ranks_by_it_alone():
    # No word for BM25 (punctuation only): the NAIL part alone, weighted 1 whatever its weight.
    options = QueryOptions(mode="hybrid", server_side=True, hybrid_normalization="max", nail_weight=0.3)
    hybrid = build_query("¿?", None, options)["query"]["nail_hybrid"]
    assert [list(q) for q in hybrid["queries"]] == [["nail"]] and hybrid["weights"] == [1.0]


def test_the_raw_sum_stays_the_default():
    assert "bool" in build_query("vitamin d", None, QueryOptions(mode="hybrid", server_side=True))["query"]


@pytest.mark.parametrize(("options", "reason"), [
    (dict(hybrid_normalization="min_max"), "is not one of none, max"),
    (dict(hybrid_normalization="max", engine="elasticsearch"), "elasticsearch has no such query"),
    (dict(hybrid_normalization="max", bm25_weight=-1.0), "weights >= 0"),
    (dict(hybrid_normalization="max", bm25_weight=0.0, nail_weight=0.0), "not both 0"),
    (dict(hybrid_normalization="max", named=True), "explain needs"),
])
def test_max_normalization_refuses_what_nail_hybrid_cannot_do(options, reason):
    with pytest.raises(QueryError, match=reason):
        QueryOptions(mode="hybrid", **options)
