"""Query weights from the searched index: each document's token ids in `nail_tokens`, IDF read back from the node."""

from __future__ import annotations

from collections import Counter

import pytest

from nail_os.corpus import Record
from nail_os.ingest import IngestOptions, ingest
from nail_os.mapping import create_index, index_body
from nail_os.queries import QueryOptions, build_query
from nail_os.search import search
from nail_os.statistics import IndexStatistics, document_tokens, idf

pytestmark = pytest.mark.integration

TEXTS = {
    "d1": ("Coffee and tea", "Coffee with a little tea."),
    "d2": ("Coffee", "Strong coffee, roasted dark."),
    "d3": ("Tea", "Green tea from the mountains."),
    "d4": ("Bread", "Bread and butter with coffee."),
    "d5": ("Butter", "Salted butter."),
}


def records(texts: dict[str, tuple[str, str]]) -> list[Record]:
    # Pre-encoded features (what a GPU machine would have written): the statistics come from the text.
    return [Record("docs", i, doc_id, title, text, features={"coffee": 1.0 + i, "tea": 0.5, "butter": 2.0})
            for i, (doc_id, (title, text)) in enumerate(texts.items(), 1)]


def expected_idf(tokenizer, texts: dict[str, tuple[str, str]]) -> dict[int, float]:
    tokens = document_tokens(tokenizer, [f"{t} {x}" for t, x in texts.values()])
    df = Counter(int(t) for doc in tokens for t in doc)
    return {t: idf(n, len(texts)) for t, n in df.items()}


def fresh(client, index) -> IndexStatistics:
    return IndexStatistics(client, index, ttl=0.0)  # no cache: every call reads the node


@pytest.fixture()
def stats_index(client, index_name, tokenizer):
    create_index(client, index_name)
    report = ingest(client, records(TEXTS), IngestOptions(index=index_name, resume=False), tokenizer=tokenizer,
                    show_progress=False)
    assert report.indexed == len(TEXTS)
    return index_name


def test_document_frequencies_come_back_from_the_index(client, stats_index, tokenizer):
    expected = expected_idf(tokenizer, TEXTS)
    got = fresh(client, stats_index).weights(expected)
    assert got == pytest.approx(expected)
    coffee, mountains = tokenizer.token_to_id("coffee"), tokenizer.token_to_id("mountains")
    assert got[coffee] < got[mountains]  # in 4 documents vs 1
    # A token no document holds weighs as a term with df 0.
    unseen = tokenizer.token_to_id("volcano")
    assert fresh(client, stats_index).weights([unseen]) == {unseen: pytest.approx(idf(0, len(TEXTS)))}


def test_searches_weigh_tokens_by_the_index_idf(client, stats_index, tokenizer):
    options = QueryOptions(mode="nail")
    hits = search(client, stats_index, "coffee butter", tokenizer, options)
    weights = expected_idf(tokenizer, TEXTS)
    coffee, butter = tokenizer.token_to_id("coffee"), tokenizer.token_to_id("butter")
    features = {r.doc_id: r.features for r in records(TEXTS)}
    for hit in hits:
        want = weights[coffee] * features[hit.doc_id]["coffee"] + weights[butter] * features[hit.doc_id]["butter"]
        assert hit.score == pytest.approx(want, rel=4e-3)  # rank_features keeps 9 bits of each weight
    model = search(client, stats_index, "coffee butter", tokenizer, QueryOptions(mode="nail", query_weights="model"))
    assert model[0].score == pytest.approx(features[model[0].doc_id]["coffee"] + 2.0, rel=4e-3)
    body = build_query("coffee butter", tokenizer, options, weights)
    boosts = {c["rank_feature"]["field"]: c["rank_feature"]["boost"] for c in body["query"]["bool"]["should"]}
    assert boosts == {f"nail.{coffee}": pytest.approx(weights[coffee]),
                      f"nail.{butter}": pytest.approx(weights[butter])}


def test_statistics_follow_later_ingest_runs(client, stats_index, tokenizer):
    more = {"d6": ("Tea", "Black tea with milk."), "d7": ("Milk", "Warm milk.")}
    report = ingest(client, records(more), IngestOptions(index=stats_index, resume=False), tokenizer=tokenizer,
                    show_progress=False)
    assert report.indexed == 2
    expected = expected_idf(tokenizer, {**TEXTS, **more})
    assert fresh(client, stats_index).weights(expected) == pytest.approx(expected)
    # Deletes and replacements: Lucene, as for BM25's own statistics, counts a deleted or replaced document until a
    # merge drops it (when is Lucene's choice, so it is not asserted here).


def test_an_index_without_statistics_uses_the_models_weights(client, index_name, tokenizer):
    body = index_body()
    del body["mappings"]["properties"]["nail_tokens"]  # an index made by an older nail-os
    client.indices.create(index=index_name, body=body)
    docs = [Record("docs", 1, "d1", "", "", features={"coffee": 2.0})]
    ingest(client, docs, IngestOptions(index=index_name, resume=False), tokenizer=tokenizer, show_progress=False)
    assert fresh(client, index_name).weights([tokenizer.token_to_id("coffee")]) is None
    (hit,) = search(client, index_name, "coffee", tokenizer, QueryOptions(mode="nail"))
    assert hit.score == pytest.approx(2.0)  # splade-tiny has no query weights: boost 1
