"""What differs between OpenSearch and Elasticsearch, without a node: detection, clauses, the local ES node's
release, Java and config. The same code against real nodes: tests/integration (engine-parametrised tests)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from nail_os.engines import engine_from_info, load, name_of
from nail_os.queries import QueryError, QueryOptions, build_query, nail_clauses
from nail_os.server import ServerError
from nail_os.server.config import plan_nodes, render_elasticsearch_yml, render_jvm_options
from nail_os.server.java import Jdk, find_jdks, select_release
from nail_os.server.releases import ELASTICSEARCH, OPENSEARCH, distribution, release_for
from nail_os.tokens import QueryToken

JDK17 = Jdk(Path("/usr/lib/jvm/java-17-openjdk-amd64"), 17)
JDK25 = Jdk(Path("/usr/lib/jvm/temurin-25-jdk-amd64"), 25)


# --- detection ----------------------------------------------------------------------------------------------

def test_the_info_endpoint_names_the_engine():
    # Trimmed `GET /` answers of OpenSearch 3.8.0 and of a full Elasticsearch 8.19 distribution.
    assert engine_from_info({"name": "n", "version": {"distribution": "opensearch", "number": "3.8.0",
                                                      "build_type": "zip"}, "tagline": "The OpenSearch Project: "
                                                                                       "https://opensearch.org/"}) \
        == "opensearch"
    assert engine_from_info({"version": {"number": "8.19.21", "build_flavor": "default", "build_type": "zip"},
                             "tagline": "You Know, for Search"}) == "elasticsearch"
    # A node of `GET /_nodes/_local` (Elasticsearch's integ-test node has no `GET /`).
    assert engine_from_info({"version": "8.19.21", "build_flavor": "default"}) == "elasticsearch"
    assert engine_from_info({"error": "forbidden"}) is None


def test_the_client_class_names_the_engine():
    from opensearchpy import OpenSearch

    assert name_of(OpenSearch()) == "opensearch"
    assert name_of(object()) == "opensearch"


# --- query bodies -------------------------------------------------------------------------------------------

def test_elasticsearch_clauses_are_terms_on_the_sparse_vector_field():
    tokens = [QueryToken(2000, "coffee", 2), QueryToken(4019, "tea", 1)]
    assert nail_clauses(tokens, nail_field="nail", named=True, engine="elasticsearch") == [
        {"term": {"nail": {"value": "2000", "boost": 2.0, "_name": "2000"}}},
        {"term": {"nail": {"value": "4019", "_name": "4019"}}},
    ]
    # The same tokens, the same boosts, OpenSearch's clause.
    assert nail_clauses(tokens, nail_field="nail", engine="opensearch")[0] == \
        {"rank_feature": {"field": "nail.2000", "linear": {}, "boost": 2.0}}


def test_hybrid_body_has_the_same_shape_on_both_engines(tokenizer):
    options = QueryOptions(mode="hybrid", bm25_weight=0.5, nail_weight=2.0)
    opensearch = build_query("coffee tea", tokenizer, options)
    elasticsearch = build_query("coffee tea", tokenizer, replace(options, engine="elasticsearch"))
    bm25, nail = elasticsearch["query"]["bool"]["should"]
    os_bm25, os_nail = opensearch["query"]["bool"]["should"]
    assert bm25 == os_bm25 and nail["bool"]["boost"] == os_nail["bool"]["boost"] == 2.0
    assert [c["term"]["nail"]["value"] for c in nail["bool"]["should"]] == \
           [c["rank_feature"]["field"].split(".")[1] for c in os_nail["bool"]["should"]]


def test_sparse_vector_query_turns_pruning_off(tokenizer):
    options = QueryOptions(engine="elasticsearch", nail_query="sparse_vector")
    body = build_query("coffee coffee tea", tokenizer, options)
    query = body["query"]["sparse_vector"]
    coffee = str(tokenizer.token_to_id("coffee"))
    assert query["field"] == "nail" and query["prune"] is False and query["query_vector"][coffee] == 2.0


@pytest.mark.parametrize(("engine", "nail_query"), [("elasticsearch", "neural_sparse"),
                                                    ("opensearch", "sparse_vector")])
def test_a_query_form_the_engine_lacks_is_refused_by_name(engine, nail_query, tokenizer):
    options = QueryOptions(engine=engine, nail_query=nail_query)  # the engine may still change (search() sets it)
    with pytest.raises(QueryError, match=f"nail_query '{nail_query}' does not run on {engine}"):
        build_query("coffee", tokenizer, options)


def test_engine_modules_agree_on_their_interface():
    for name in ("opensearch", "elasticsearch"):
        engine = load(name)
        assert engine.NAME == name and "rank_feature" in engine.NAIL_QUERIES
    assert (load("opensearch").NAIL_FIELD_TYPE, load("elasticsearch").NAIL_FIELD_TYPE) == \
           ("rank_features", "sparse_vector")


# --- the local Elasticsearch node ---------------------------------------------------------------------------

def test_elasticsearch_release_is_pinned_with_its_checksum():
    assert ELASTICSEARCH.releases[0].version.startswith("8.")
    assert all(len(r.sha512 or "") == 128 and r.engine == "elasticsearch" for r in ELASTICSEARCH.releases)
    assert distribution("opensearch") is OPENSEARCH
    with pytest.raises(ServerError, match="engine 'solr' is not supported; choose one of: opensearch, elasticsearch"):
        distribution("solr")


def test_elasticsearch_runs_on_java_17_and_up():
    assert select_release(jdks=[JDK17], engine="elasticsearch") == (ELASTICSEARCH.releases[0], JDK17)
    assert select_release(jdks=[JDK17, JDK25], engine="elasticsearch")[1] == JDK25
    with pytest.raises(ServerError, match=r"Elasticsearch 8\.\d+\.\d+ needs Java 17\+.*ES_JAVA_HOME"):
        select_release(jdks=[Jdk(Path("/opt/jdk11"), 11)], engine="elasticsearch")


def test_es_java_home_binds_elasticsearch_only():
    forced = Jdk(Path("/usr/lib/jvm/java-17-openjdk-amd64"), 17, from_env="ES_JAVA_HOME")
    assert select_release(jdks=[JDK25, forced], engine="elasticsearch")[1] == forced
    # OpenSearch's variable is no preference for Elasticsearch (and the other way round).
    os_forced = Jdk(Path("/usr/lib/jvm/java-17-openjdk-amd64"), 17, from_env="OPENSEARCH_JAVA_HOME")
    assert select_release(jdks=[JDK25, os_forced], engine="elasticsearch")[1] == JDK25
    assert select_release(jdks=[JDK25, forced])[1] == JDK25


def test_unknown_elasticsearch_versions(tmp_path):
    assert release_for("8.15.0", "elasticsearch").java_range() == "Java 17+"
    assert release_for("9.1.0", "elasticsearch").java_range() == "Java 21+"
    with pytest.raises(ServerError, match="Elasticsearch 8.10.4 is too old: nail-os needs 8.11"):
        release_for("8.10.4", "elasticsearch")
    with pytest.raises(ServerError, match=f"ES_JAVA_HOME={tmp_path} is not a JDK"):
        find_jdks({"ES_JAVA_HOME": str(tmp_path)}, roots=[])


def test_elasticsearch_yml_turns_security_off_and_names_its_masters():
    nodes = plan_nodes(Path("/d"), 9250, 2)
    single = dict(line.split(": ", 1) for line in render_elasticsearch_yml(nodes[0], nodes[:1]).splitlines()[1:])
    assert json.loads(single["xpack.security.enabled"]) is False
    assert json.loads(single["discovery.type"]) == "single-node" and "bootstrap.system_call_filter" not in single
    pair = dict(line.split(": ", 1) for line in render_elasticsearch_yml(nodes[1], nodes).splitlines()[1:])
    assert json.loads(pair["cluster.initial_master_nodes"]) == ["node-0", "node-1"]


def test_elasticsearch_jvm_options_get_absolute_paths():
    # The lines Elasticsearch 8.19's integ-test zip ships, relative to the (read-only) install folder.
    shipped = "-XX:ErrorFile=hs_err_pid%p.log\n" \
              "-Xlog:gc*,gc+age=trace,safepoint:file=gc.log:utctime,level,pid,tags:filecount=32,filesize=64m\n"
    [node] = plan_nodes(Path("/d"), 9200, 1)
    options = render_jvm_options(shipped, node, "1g").splitlines()
    assert "-XX:ErrorFile=/d/node-0/logs/hs_err_pid%p.log" in options
    assert "-Xlog:gc*,gc+age=trace,safepoint:file=/d/node-0/logs/gc.log:utctime,level,pid,tags:filecount=4," \
           "filesize=16m" in options
