"""The nail plugin on Elasticsearch 8 (plugin/elasticsearch/): the session's ES node runs it, with the shipped
model in each node's config/nail/models/ (Elasticsearch has no upload API in this plugin).

The same SciFact indices as test_plugin.py (NAIL weight 1 + ln(count), no encoder), on `sparse_vector`: every
SciFact test query gives the same top-10 with the same scores through the `nail` query as through the body the
Python client builds (a bool of boosted `term` clauses).
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from nail_os.connection import ClusterConfig, make_client
from nail_os.engines.elasticsearch import adapt_index_body, helpers
from nail_os.mapping import index_body
from nail_os.queries import QueryOptions, build_query
from nail_os.search import search
from nail_os.tokens import Tokenizer
from tests.integration.test_plugin import (
    MODEL,
    nail,
    raw_search,
    scifact_actions,
    scifact_test_queries,
    shipped,
    without_statistics,
)

__all__ = ["shipped"]  # the module-scoped tokenizer fixture, shared with test_plugin.py


@pytest.fixture(scope="module")
def es_client(es_node_url):
    return make_client(ClusterConfig(url=es_node_url, timeout=300))


@pytest.fixture(scope="module")
def es_scifact(es_client, data, shipped) -> Any:
    """`stats` (with `nail_tokens`, the kit's mapping) and `plain` SciFact indices on the ES node."""
    names = {"stats": "test-es-plugin-stats", "plain": "test-es-plugin-plain"}
    for kind, index in names.items():
        es_client.indices.delete(index=index, ignore_unavailable=True)
        body = index_body() if kind == "stats" else without_statistics(index_body())
        es_client.indices.create(index=index, **adapt_index_body(es_client, body))
        helpers().bulk(es_client.options(request_timeout=300), scifact_actions(data, shipped, index, kind == "stats"),
                       chunk_size=1000)
    es_client.indices.refresh(index=",".join(names.values()))
    yield names
    es_client.indices.delete(index=",".join(names.values()), ignore_unavailable=True)


def ranked(es_client, index: str, bodies: list[dict[str, Any]]) -> list[list[tuple[str, float]]]:
    searches: list[dict[str, Any]] = []
    for body in bodies:
        searches += [{"index": index}, body]
    responses = es_client.msearch(searches=searches)["responses"]
    for r in responses:
        assert "error" not in r, r.get("error")
    return [[(h["_id"], h["_score"]) for h in r["hits"]["hits"]] for r in responses]


def assert_same_rankings(es_client, index: str, texts: list[str], tokenizer: Tokenizer, mode: str = "nail") -> None:
    client_side = [[(h.doc_id, h.score) for h in search(es_client, index, t, tokenizer, QueryOptions(mode=mode))]
                   for t in texts]
    options = QueryOptions(mode=mode, server_side=True, engine="elasticsearch")
    server_side = ranked(es_client, index, [build_query(t, None, options) for t in texts])
    differ = [(t[:60], c[:3], s[:3]) for t, c, s in zip(texts, client_side, server_side, strict=True)
              if [d for d, _ in c] != [d for d, _ in s]
              or any(not math.isclose(a, b, rel_tol=1e-6) for (_, a), (_, b) in zip(c, s, strict=True))]
    assert not differ, f"{len(differ)} of {len(texts)} queries rank differently, e.g. {differ[:3]}"
    assert sum(len(r) for r in server_side) > 0


@pytest.mark.parametrize("kind", ["stats", "plain"])
def test_same_top10_and_scores_as_the_client_body_on_elasticsearch(es_client, data, es_scifact, shipped, kind):
    texts = list(scifact_test_queries(data).values())
    assert len(texts) == 300
    assert_same_rankings(es_client, es_scifact[kind], texts, shipped)


def test_hybrid_matches_the_client_body_on_elasticsearch(es_client, data, es_scifact, shipped):
    texts = list(scifact_test_queries(data).values())[:50]
    assert_same_rankings(es_client, es_scifact["stats"], texts, shipped, mode="hybrid")


@pytest.mark.parametrize(("query", "reason"), [
    (nail(model="no-such-model"), "unknown model [no-such-model]"),
    ({"nail": {"field": "nope", "query": "x", "model": MODEL}}, "field [nope] does not exist"),
    ({"nail": {"field": "title", "query": "x", "model": MODEL}}, "it must be sparse_vector"),
    ({"nail": {"field": "nail", "query": 5, "model": MODEL}}, "[query] must be a string"),
    (nail(boost=-1), "[boost] must be a finite number >= 0"),
    (nail(colour="red"), "unknown field [colour]"),
    (nail("x" * 1_000_001), "over the 1000000 allowed"),
])
def test_bad_input_is_a_400_on_elasticsearch(es_node_url, es_scifact, query, reason):
    status, body = raw_search(es_node_url, es_scifact["stats"], json.dumps({"query": query}).encode())
    assert status == 400, body
    assert reason in json.dumps(body), body


@pytest.mark.parametrize("text", ["", "   ", "\u0000\u0007\u001f", "[CLS] [SEP]"])
def test_a_query_without_tokens_matches_nothing_on_elasticsearch(es_node_url, es_scifact, text):
    status, body = raw_search(es_node_url, es_scifact["stats"], json.dumps({"query": nail(text)}).encode())
    assert status == 200, body
    assert body["hits"]["hits"] == []


def test_plugin_status_on_elasticsearch_names_the_zip_and_the_nodes(es_node_url):
    """`nail-os server start --engine elasticsearch` built the zip and installed it: the node reports it."""
    from click.testing import CliRunner

    from nail_os.cli.main import main

    result = CliRunner().invoke(main, ["--url", es_node_url, "plugin", "status", "--engine", "elasticsearch",
                                       "--cluster"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["elasticsearch_version"] == "8.19.21"
    assert info["zip"].endswith(".zip") and "nail-es-plugin-" in info["zip"]
    assert info["install_command"] == f"bin/elasticsearch-plugin install file://{info['zip']}"
    assert info["cluster"]["with_plugin"] == info["cluster"]["nodes"] == ["node-0"]
