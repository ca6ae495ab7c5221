"""Searching: hand-checkable scores in nail mode, explain, and the one-request hybrid."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from nail_os.cli.main import main
from nail_os.corpus import Record
from nail_os.ingest import IngestOptions, ingest
from nail_os.mapping import create_index
from nail_os.queries import QueryOptions
from nail_os.search import search

pytestmark = pytest.mark.integration

DOCS = [
    Record("docs", 1, "d1", "Coffee and tea", "Coffee with a little tea.", features={"coffee": 2.0, "tea": 0.5}),
    Record("docs", 2, "d2", "Coffee", "Strong coffee.", features={"coffee": 1.0}),
    Record("docs", 3, "d3", "Tea", "Green tea.", features={"tea": 3.0}),
    Record("docs", 4, "d4", "Bread", "Bread and butter.", features={"bread": 4.0}),
]


@pytest.fixture()
def tiny_index(client, index_name, tokenizer):
    create_index(client, index_name)
    report = ingest(client, DOCS, IngestOptions(index=index_name, resume=False), tokenizer=tokenizer,
                    show_progress=False)
    assert report.indexed == 4
    return index_name


def test_nail_scores_are_dot_products(client, tiny_index, tokenizer):
    # The model's query weights (splade-tiny has none: boost 1), not the index's IDF (test_statistics.py).
    hits = search(client, tiny_index, "coffee tea", tokenizer, QueryOptions(mode="nail", query_weights="model"),
                  explain=True)
    assert [(h.doc_id, h.score) for h in hits] == [("d3", 3.0), ("d1", 2.5), ("d2", 1.0)]
    assert hits[1].contributions == {"coffee": 2.0, "tea": 0.5}
    doubled = search(client, tiny_index, "coffee coffee", tokenizer, QueryOptions(mode="nail", query_weights="model"))
    assert [(h.doc_id, h.score) for h in doubled] == [("d1", 4.0), ("d2", 2.0)]


def test_hybrid_adds_weighted_bm25_and_nail_in_one_request(client, tiny_index, tokenizer):
    bm25 = {h.doc_id: h.score for h in search(client, tiny_index, "coffee", None, QueryOptions(mode="bm25"))}
    options = QueryOptions(mode="hybrid", bm25_weight=0.5, nail_weight=2.0, query_weights="model")
    hybrid = search(client, tiny_index, "coffee", tokenizer, options, explain=True)
    nail = {"d1": 2.0, "d2": 1.0}
    for hit in hybrid:
        assert hit.score == pytest.approx(0.5 * bm25.get(hit.doc_id, 0) + 2.0 * nail.get(hit.doc_id, 0), rel=1e-5)
        assert sum(hit.contributions.values()) == pytest.approx(hit.score, rel=1e-5)


def test_hybrid_on_combined_fields_adds_bm25f_and_nail(client, tiny_index, tokenizer):
    bm25f = QueryOptions(mode="bm25", bm25_query="combined_fields")
    bm25 = {h.doc_id: h.score for h in search(client, tiny_index, "coffee tea", None, bm25f)}
    assert bm25 and bm25 != {h.doc_id: h.score for h in search(client, tiny_index, "coffee tea", None,
                                                                QueryOptions(mode="bm25"))}
    options = QueryOptions(mode="hybrid", bm25_query="combined_fields", nail_weight=2.0, query_weights="model")
    nail = {"d1": 2.5, "d2": 1.0, "d3": 3.0}
    hits = search(client, tiny_index, "coffee tea", tokenizer, options)
    assert {h.doc_id for h in hits} == {"d1", "d2", "d3"}
    for hit in hits:
        assert hit.score == pytest.approx(bm25.get(hit.doc_id, 0) + 2.0 * nail[hit.doc_id], rel=1e-5)


def test_cli_explain_and_modes(node_url, tiny_index):
    runner = CliRunner()
    for mode, shape in (("bm25", "multi_match"), ("nail", "multi_match"), ("hybrid", "multi_match"),
                        ("hybrid", "combined_fields")):
        result = runner.invoke(main, ["--url", node_url, "search", "coffee", "-i", tiny_index, "--mode", mode,
                                      "--bm25-query", shape, "--model", "splade-tiny", "--json", "--explain"])
        assert result.exit_code == 0, result.output
        first = json.loads(result.output.splitlines()[0])
        assert first["id"] in {"d1", "d2"} and first["contributions"]


def test_queries_that_match_nothing_are_not_errors(client, tiny_index, tokenizer):
    for text in ["", "!!!", "日本語のテキスト", "𓀀𓀁"]:
        assert search(client, tiny_index, text, tokenizer, QueryOptions(mode="hybrid")) == [], text


def test_ten_thousand_token_query_is_pruned_not_a_server_error(client, tiny_index, tokenizer):
    words = [tokenizer.id_to_token(i) for i in range(2000, 14000)]
    text = " ".join(w for w in words if w.isalpha())[:200_000] + " coffee"
    # Pruning keeps the heaviest boosts: with boost 1 (the model's weights) "coffee" is among the kept ones.
    hits = search(client, tiny_index, text, tokenizer, QueryOptions(mode="hybrid", query_weights="model"))
    assert {h.doc_id for h in hits} >= {"d1", "d2"}
