"""The query-weight choice (`QueryOptions.query_weights`): "index" weighs each token by IDF over the searched index
where it keeps token statistics, the model's query_weights.json where it keeps none; "model" always the model's.

A stand-in client answers `_termvectors` as OpenSearch does (tests/integration/test_statistics.py runs the same
choice on a real node) and records the search body, so no node is needed.
"""

from __future__ import annotations

from typing import Any

import pytest

from nail_os.queries import QueryOptions
from nail_os.search import search
from nail_os.statistics import idf, tokens_field

MODEL_WEIGHT = 3.0  # the model's query_weights.json value for "coffee", far from any IDF below


class StatsClient:
    """`termvectors` answers with `doc_freq` over `num_docs` documents (no field at all when `num_docs` is None);
    `search` keeps the bodies it is sent."""

    def __init__(self, doc_freq: dict[int, int], num_docs: int | None) -> None:
        self.doc_freq, self.num_docs = doc_freq, num_docs
        self.bodies: list[dict[str, Any]] = []
        self.lookups = 0

    def termvectors(self, index: str, body: dict[str, Any]) -> dict[str, Any]:
        self.lookups += 1
        if self.num_docs is None:
            return {"term_vectors": {}}
        field = tokens_field("nail")
        terms = {t: {"doc_freq": self.doc_freq.get(int(t), 0)} for t in body["doc"][field]}
        return {"term_vectors": {field: {"field_statistics": {"doc_count": self.num_docs}, "terms": terms}}}

    def search(self, index: str, body: dict[str, Any], params: dict[str, str]) -> dict[str, Any]:
        self.bodies.append(body)
        return {"hits": {"hits": []}, "_shards": {"failed": 0}}


def _boost(client: StatsClient, token: int) -> float:
    (clause,) = client.bodies[-1]["query"]["bool"]["should"]
    assert clause["rank_feature"]["field"] == f"nail.{token}"
    return clause["rank_feature"]["boost"]


@pytest.fixture
def coffee(tokenizer) -> int:
    token = tokenizer.token_to_id("coffee")
    tokenizer.query_weights[token] = MODEL_WEIGHT
    yield token
    del tokenizer.query_weights[token]


@pytest.mark.parametrize(
    ("choice", "num_docs", "expected"),
    [("index", 100, idf(7, 100)),  # the index keeps statistics: its own IDF
     ("index", None, MODEL_WEIGHT),  # an index without them (older nail-os, another tool): the model's
     ("model", 100, MODEL_WEIGHT)],  # asked for the model's: never read the index
)
def test_query_weights_index_or_model(choice: str, num_docs: int | None, expected: float, tokenizer, coffee: int):
    client = StatsClient({coffee: 7}, num_docs)  # a new client: nothing cached from another test
    search(client, "docs", "coffee", tokenizer, QueryOptions(mode="nail", query_weights=choice))
    assert _boost(client, coffee) == pytest.approx(expected)
    assert client.lookups == (0 if choice == "model" else 1)
