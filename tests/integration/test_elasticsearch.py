"""What only Elasticsearch has: engine detection from the URL, the sparse_vector field, its one-query form.

The shared behaviour (exact ranking, feature names, resume after SIGKILL) runs on both engines in
test_exactness.py, test_feature_names.py and test_ingest.py.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from nail_os.cli.main import main
from nail_os.connection import ClusterConfig, make_client
from nail_os.corpus import Record
from nail_os.engines import name_of
from nail_os.ingest import IngestOptions, ingest
from nail_os.mapping import create_index, field_type
from nail_os.queries import QueryOptions
from nail_os.search import search

pytestmark = pytest.mark.integration

# test_search.py's hand-checkable corpus: coffee tea → d3 3.0, d1 2.0 + 0.5, d2 1.0.
DOCS = [
    Record("docs", 1, "d1", "Coffee and tea", "Coffee with a little tea.", features={"coffee": 2.0, "tea": 0.5}),
    Record("docs", 2, "d2", "Coffee", "Strong coffee.", features={"coffee": 1.0}),
    Record("docs", 3, "d3", "Tea", "Green tea.", features={"tea": 3.0}),
]


@pytest.fixture(scope="module")
def es_client(es_node_url):
    return make_client(ClusterConfig(url=es_node_url, timeout=120))


@pytest.fixture()
def es_index(es_client, tokenizer):
    name = "test-es-tiny"
    es_client.indices.delete(index=name, ignore_unavailable=True)
    create_index(es_client, name)
    assert ingest(es_client, DOCS, IngestOptions(index=name, resume=False), tokenizer=tokenizer,
                  show_progress=False).indexed == len(DOCS)
    yield name
    es_client.indices.delete(index=name, ignore_unavailable=True)


def test_the_url_alone_gives_an_elasticsearch_client(es_client, es_node_url):
    assert name_of(es_client) == "elasticsearch"
    forced = make_client(ClusterConfig(url=es_node_url, engine="elasticsearch"))
    assert name_of(forced) == "elasticsearch"


def test_nail_field_is_sparse_vector_and_both_query_forms_score_the_dot_product(es_client, es_index, tokenizer):
    assert field_type(es_client, es_index, "nail") == "sparse_vector"
    expected = [("d3", 3.0), ("d1", 2.5), ("d2", 1.0)]
    # The model's query weights (splade-tiny has none: boost 1), not the index's IDF, as in test_search.py.
    terms = search(es_client, es_index, "coffee tea", tokenizer, QueryOptions(mode="nail", query_weights="model"),
                   explain=True)
    assert [(h.doc_id, h.score) for h in terms] == expected
    assert terms[1].contributions == {"coffee": 2.0, "tea": 0.5}
    vector = search(es_client, es_index, "coffee tea", tokenizer,
                    QueryOptions(mode="nail", nail_query="sparse_vector", query_weights="model"))
    assert [(h.doc_id, h.score) for h in vector] == expected


def test_cli_searches_elasticsearch_and_prints_its_dsl(es_node_url, es_index):
    runner = CliRunner()
    found = runner.invoke(main, ["--url", es_node_url, "search", "coffee tea", "-i", es_index, "--model", "splade-tiny",
                                 "--json", "--mode", "hybrid"])
    assert found.exit_code == 0, found.output
    assert sorted(json.loads(line)["id"] for line in found.output.splitlines()) == ["d1", "d2", "d3"]
    dsl = runner.invoke(main, ["--engine", "elasticsearch", "query", "--dsl", "coffee", "--model", "splade-tiny",
                               "--compact"])
    assert dsl.exit_code == 0 and '"term": {"nail"' in dsl.output and "rank_feature" not in dsl.output
