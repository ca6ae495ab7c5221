"""The nail plugin's `nail_hybrid` query on the session's node: on a 3-shard SciFact index its scores are
w1 x s1 / max1 + w2 x s2 / max2, with s and max taken from separate searches of each part, and bad input is a 400.

The index is weighted without an encoder, as in test_plugin.py (1 + ln count per token), with `nail_tokens`.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from opensearchpy import helpers

from nail_os.mapping import index_body
from nail_os.queries import QueryOptions, build_query
from tests.integration.test_plugin import (  # noqa: F401 (shipped: a fixture)
    MODEL,
    raw,
    raw_search,
    scifact_actions,
    scifact_test_queries,
    shipped,
)

INDEX = "test-plugin-hybrid"
SHARDS = 3  # several shards: a top score found per shard would differ from the one over the index


@pytest.fixture(scope="module")
def sharded(client, data, shipped) -> Any:  # noqa: F811 (the fixture imported above)
    client.indices.delete(index=INDEX, ignore_unavailable=True)
    client.indices.create(index=INDEX, body=index_body(shards=SHARDS))
    helpers.bulk(client, scifact_actions(data, shipped, INDEX, statistics=True), chunk_size=1000, request_timeout=300)
    client.indices.refresh(index=INDEX)
    yield INDEX
    client.indices.delete(index=INDEX, ignore_unavailable=True)


def part_scores(client, query: dict[str, Any], ids: list[str] | None = None, size: int = 10) -> dict[str, float]:
    """Each document's score under `query` alone (restricted to `ids` when given)."""
    if ids is not None:
        query, size = {"bool": {"must": [query], "filter": [{"ids": {"values": ids}}]}}, len(ids)
    hits = client.search(index=INDEX, body={"query": query, "size": size, "_source": False})["hits"]["hits"]
    return {h["_id"]: h["_score"] for h in hits}


@pytest.mark.parametrize("weights", [(0.5, 0.5), (0.7, 0.3), (0.3, 0.7)])
def test_scores_are_the_weighted_sum_of_each_part_over_its_top_score(client, data, sharded, weights):
    texts = list(scifact_test_queries(data).values())[:20]
    options = QueryOptions(mode="hybrid", server_side=True, hybrid_normalization="max", bm25_weight=weights[0],
                           nail_weight=weights[1])
    checked = 0
    for text in texts:
        body = build_query(text, None, options)
        parts = body["query"]["nail_hybrid"]["queries"]
        assert [next(iter(p)) for p in parts] == ["multi_match", "nail"]
        hits = client.search(index=INDEX, body=body | {"_source": False})["hits"]["hits"]
        tops = [max(part_scores(client, p, size=1).values()) for p in parts]
        # Candidates: the hits and each part's top 100; every candidate's exact part scores, fused by hand.
        candidates = {h["_id"] for h in hits}.union(*(part_scores(client, p, size=100) for p in parts))
        scores = [part_scores(client, p, sorted(candidates)) for p in parts]
        fused = {doc: sum(w * s.get(doc, 0.0) / top for w, s, top in zip(weights, scores, tops, strict=True))
                 for doc in candidates}
        for hit in hits:
            assert math.isclose(hit["_score"], fused[hit["_id"]], rel_tol=1e-5), (text, hit, fused[hit["_id"]])
            checked += 1
        # The ranking is the fusion's: no candidate outside the hits beats the 10th.
        best = sorted(fused.values(), reverse=True)[:len(hits)]
        assert [h["_score"] for h in hits] == pytest.approx(best, rel=1e-5), text
    assert checked == 10 * len(texts)


def test_weights_none_is_the_raw_sum(client, sharded):
    bm25 = {"match": {"text": "vitamin d bone loss"}}
    nail = {"nail": {"field": "nail", "query": "vitamin d bone loss", "model": MODEL}}
    raw = client.search(index=INDEX, body={"query": {"bool": {"should": [bm25, nail]}}, "_source": False})
    same = client.search(index=INDEX, body={"query": {"nail_hybrid": {"queries": [bm25, nail], "weights": [1, 1],
                                                                      "normalization": "none"}}, "_source": False})
    assert [(h["_id"], pytest.approx(h["_score"], rel=1e-6)) for h in raw["hits"]["hits"]] == \
        [(h["_id"], h["_score"]) for h in same["hits"]["hits"]]


def hybrid(**extra: Any) -> dict[str, Any]:
    return {"nail_hybrid": {"queries": [{"match": {"text": "vitamin d"}},
                                        {"nail": {"field": "nail", "query": "vitamin d", "model": MODEL}}], **extra}}


def test_inside_compound_queries_templates_explain_and_count(client, sharded):
    top = client.search(index=INDEX, body={"query": hybrid(), "size": 1})["hits"]["hits"][0]
    assert 0 < top["_score"] <= 1.0  # equal weights summing to 1: each part at most 1

    def first(query: dict[str, Any]) -> dict[str, Any]:
        return client.search(index=INDEX, body={"query": query, "size": 1})["hits"]["hits"][0]

    doubled = first({"function_score": {"query": hybrid(), "functions": [{"weight": 2}], "boost_mode": "multiply"}})
    assert doubled["_id"] == top["_id"] and doubled["_score"] == pytest.approx(2 * top["_score"], rel=1e-6)
    # The tops are over the index, not over what an enclosing filter keeps: the score does not change.
    filtered = first({"bool": {"must": [hybrid()], "filter": [{"ids": {"values": [top["_id"]]}}]}})
    assert filtered["_score"] == pytest.approx(top["_score"], rel=1e-6)
    assert first(hybrid(boost=3))["_score"] == pytest.approx(3 * top["_score"], rel=1e-6)
    templated = client.search_template(index=INDEX, body={
        "source": {"query": {"nail_hybrid": {"queries": [{"match": {"text": "{{q}}"}}, {"nail": {
            "field": "nail", "query": "{{q}}", "model": MODEL}}]}}, "size": 1},
        "params": {"q": "vitamin d"}})["hits"]["hits"][0]
    assert templated["_id"] == top["_id"] and templated["_score"] == pytest.approx(top["_score"], rel=1e-6)
    explained = client.explain(index=INDEX, id=top["_id"], body={"query": hybrid()})
    assert explained["matched"] and explained["explanation"]["value"] == pytest.approx(top["_score"], rel=1e-6)
    assert client.count(index=INDEX, body={"query": hybrid()})["count"] > 0


def test_a_part_without_hits_is_dropped(client, sharded):
    nothing = {"match": {"text": "zzzqqq"}}
    alone = client.search(index=INDEX, body={"query": {"match": {"text": "vitamin d"}}, "size": 3})["hits"]["hits"]
    both = client.search(index=INDEX, body={"query": {"nail_hybrid": {
        "queries": [nothing, {"match": {"text": "vitamin d"}}], "weights": [0.5, 0.5]}}, "size": 3})["hits"]["hits"]
    assert [h["_id"] for h in both] == [h["_id"] for h in alone]
    assert both[0]["_score"] == pytest.approx(0.5, rel=1e-6)
    none = client.search(index=INDEX, body={"query": {"nail_hybrid": {"queries": [nothing]}}})["hits"]["hits"]
    assert none == []


@pytest.mark.parametrize(("query", "reason"), [
    (hybrid(weights=[1]), "[weights] has 1 numbers for 2 queries"),
    (hybrid(weights=[1, -0.5]), "[weights][1] must be a finite number >= 0"),
    (hybrid(weights=[0, 0]), "[weights] must not all be 0"),
    (hybrid(weights="equal"), "[weights] must be an array"),
    (hybrid(normalization="min_max"), "[normalization] must be one of [max, none]"),
    (hybrid(colour=1), "unknown field [colour]"),
    ({"nail_hybrid": {"queries": []}}, "[queries] must hold 1 to 5 queries, got 0"),
    ({"nail_hybrid": {"queries": [{"match_all": {}}] * 6}}, "got 6"),
    ({"nail_hybrid": {"queries": ["text"]}}, "[queries][0] must be a query object"),
    # A part that fails in its top-score search: its own error, as a 400 naming the part.
    ({"nail_hybrid": {"queries": [{"match": {"text": "x"}}, {"nail": {"field": "title", "query": "x",
                                                                      "model": MODEL}}]}},
     "[nail_hybrid] [queries][1] failed: [nail] field [title] is of type [text]; it must be rank_features"),
    ({"nail_hybrid": {"queries": [{"nail": {"field": "nail", "query": "x", "model": "no-such-model"}}]}},
     "unknown model [no-such-model]"),
])
def test_bad_input_is_a_400_that_names_it(node_url, sharded, query, reason):
    status, body = raw_search(node_url, INDEX, json.dumps({"query": query}).encode())
    assert status == 400, body
    assert reason in json.dumps(body), body


def test_where_no_search_can_run_it_is_a_400_that_says_why(node_url, sharded):
    status, body = raw(node_url, "POST", "/_aliases", {"actions": [{"add": {
        "index": INDEX, "alias": f"{INDEX}-alias", "filter": hybrid()}}]})
    assert status == 400, body
    assert "needs the coordinating node of a search" in json.dumps(body), body
