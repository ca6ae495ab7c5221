"""The nail plugin (plugin/): its Java tests, fed every text we can think of as `tokenizers` tokenizes it, and its
`nail` query on the session's node (which runs the plugin), compared with the body the Python client builds.

The SciFact index here is weighted without an encoder: a document's NAIL weight for a token is 1 + ln(its count
in title + text), so the test costs no CPU encoding and still has real text, real tokens and real statistics.
"""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from opensearchpy import helpers

from nail_os.mapping import index_body
from nail_os.queries import QueryOptions, build_query
from nail_os.registry import resolve_model_dir
from nail_os.search import search
from nail_os.server import nail_home
from nail_os.server.assemble import run_mvn
from nail_os.server.java import select_release
from nail_os.server.plugin import PLUGIN_SOURCE
from nail_os.statistics import document_tokens, tokens_field
from nail_os.tokens import Tokenizer

MODEL = "nail-minilm"
# Texts that break tokenizers: accents, CJK, emoji (with joiners and skin tones), mixed scripts, words over
# max_input_chars_per_word (100), control and format characters, added tokens written in the text.
HOSTILE = [
    "", " ", "\t\n\r", "Café déjà vu naïve façade Ångström", "İstanbul ǅemal ΣΊΣΥΦΟΣ ß ﬁ Ⅻ ①",
    "维生素D与骨质流失 ビタミンD 비타민 D", "𠀀𪜀 CJK extension B", "😀🧬👩‍🔬👍🏽 🇫🇷 emoji",
    "Привет мир العربية עברית हिन्दी ไทย", "x" * 101, "x" * 100, "supercalifragilistic" * 6 + " ok",
    "a\u0000b\u0007c\u001fd\u007fe\u200bf\u200dg\ufeffh\ufffdi", "[CLS] vitamin [SEP] d [MASK][PAD][UNK]",
    "[cls] lower-case specials [unused0]", "u.s.-based covid-19 (sars-cov-2) p<0.05 & ≥ 3×10⁻⁵",
    "e\u0301 combining marks a\u0308 n\u0303", "\u00a0nbsp\u2009thin\u3000ideographic\u2028line",
    "##ing ## #", "tab\tnewline\nreturn\r", "ＦＵＬＬＷＩＤＴＨ ｋａｎａ ｶﾀｶﾅ",
]


def json_line(text: str, ids: list[int]) -> str:
    return json.dumps({"text": text, "ids": ids}) + "\n"


def write_fixtures(path: Path, data: Path) -> int:
    """Every query of every collection, every vocabulary entry, the hostile list and every code point (as
    "a<c>b c<c>"), with the ids `tokenizers` gives them; returns how many texts."""
    tok = Tokenizer.from_model_dir(resolve_model_dir(MODEL)).hf
    texts = list(HOSTILE)
    for queries in sorted(data.glob("*/queries.jsonl")):
        texts += [json.loads(line)["text"] for line in queries.read_text(encoding="utf-8").splitlines() if line]
    texts += sorted(tok.get_vocab(with_added_tokens=True))
    texts += [f"a{chr(c)}b c{chr(c)}" for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    with path.open("w", encoding="utf-8") as out:
        for start in range(0, len(texts), 50_000):
            chunk = texts[start:start + 50_000]
            for text, enc in zip(chunk, tok.encode_batch(chunk, add_special_tokens=False), strict=True):
                out.write(json_line(text, enc.ids))
    return len(texts)


def test_java_tests_with_tokenizer_parity_fixtures(data, tmp_path):
    """`mvn test` in plugin/: the JUnit tests, and the plugin's tokenizer on every fixture (it fails on any
    difference and prints the first 20)."""
    fixtures = tmp_path / "tokenizer-fixtures.jsonl"
    count = write_fixtures(fixtures, data)
    assert count > 1_140_000  # queries + 30,522 vocabulary entries + 1,112,064 code points
    _, jdk = select_release()
    run_mvn(["test", f"-Dnail.fixtures={fixtures}"], nail_home() / "maven", jdk, "the nail plugin's tests",
            cwd=PLUGIN_SOURCE, compile_with_jdk=True)


# --- the query on the node ----------------------------------------------------------------------------------

def scifact_test_queries(data: Path) -> dict[str, str]:
    ids = {line.split("\t")[0] for line in (data / "scifact" / "qrels" / "test.tsv").read_text().splitlines()[1:]}
    queries = (json.loads(line) for line in (data / "scifact" / "queries.jsonl").read_text().splitlines() if line)
    return {q["_id"]: q["text"] for q in queries if q["_id"] in ids}


@pytest.fixture(scope="module")
def shipped() -> Tokenizer:
    return Tokenizer.from_model_dir(resolve_model_dir(MODEL))


def without_statistics(body: dict[str, Any]) -> dict[str, Any]:
    """An index body without `nail_tokens`: queries then use the model's query_weights.json."""
    field = tokens_field("nail")
    body["mappings"]["properties"].pop(field, None)
    body["mappings"]["_source"]["excludes"] = [f for f in body["mappings"]["_source"]["excludes"] if f != field]
    return body


def scifact_actions(data: Path, shipped: Tokenizer, index: str, statistics: bool) -> list[dict[str, Any]]:
    """SciFact as bulk actions: NAIL weight 1 + ln(count) per distinct token, and `nail_tokens` if asked."""
    docs = [json.loads(line) for line in (data / "scifact" / "corpus.jsonl").read_text().splitlines() if line]
    texts = [f"{d.get('title', '')} {d.get('text', '')}" for d in docs]
    actions = []
    for doc, enc, tokens in zip(docs, shipped.hf.encode_batch(texts, add_special_tokens=False),
                                document_tokens(shipped, texts), strict=True):
        counts = Counter(i for i in enc.ids if i not in shipped.special_ids)
        source = {"doc_id": doc["_id"], "title": doc.get("title", ""), "text": doc["text"],
                  "nail": {str(i): 1.0 + math.log(c) for i, c in counts.items()}}
        if statistics:
            source[tokens_field("nail")] = tokens
        actions.append({"_index": index, "_id": doc["_id"], "_source": source})
    return actions


@pytest.fixture(scope="module")
def scifact_indices(client, data, shipped) -> Any:
    """Two one-shard SciFact indices: `stats` with the `nail_tokens` statistics field (the kit's mapping),
    `plain` without."""
    names = {"stats": "test-plugin-stats", "plain": "test-plugin-plain"}
    for kind, index in names.items():
        client.indices.delete(index=index, ignore_unavailable=True)
        client.indices.create(index=index, body=index_body() if kind == "stats" else without_statistics(index_body()))
        helpers.bulk(client, scifact_actions(data, shipped, index, kind == "stats"), chunk_size=1000,
                     request_timeout=300)
    client.indices.refresh(index=",".join(names.values()))
    yield names
    client.indices.delete(index=",".join(names.values()), ignore_unavailable=True)


def ranked(client, index: str, bodies: list[dict[str, Any]]) -> list[list[tuple[str, float]]]:
    lines: list[dict[str, Any]] = []
    for body in bodies:
        lines += [{"index": index}, body]
    responses = client.msearch(body=lines, request_timeout=300)["responses"]
    for r in responses:
        assert "error" not in r, r.get("error")
    return [[(h["_id"], h["_score"]) for h in r["hits"]["hits"]] for r in responses]


def assert_same_rankings(client, index: str, texts: list[str], tokenizer: Tokenizer, mode: str = "nail") -> None:
    """The client's own search (`nail_os.search.search`: the index's idf where it keeps statistics) and the
    plugin's query give the same hits with the same scores."""
    client_side = [[(h.doc_id, h.score) for h in search(client, index, t, tokenizer, QueryOptions(mode=mode))]
                   for t in texts]
    server_side = ranked(client, index, [build_query(t, None, QueryOptions(mode=mode, server_side=True))
                                         for t in texts])
    differ = [(t[:60], c[:3], s[:3]) for t, c, s in zip(texts, client_side, server_side, strict=True)
              if [d for d, _ in c] != [d for d, _ in s]
              or any(not math.isclose(a, b, rel_tol=1e-6) for (_, a), (_, b) in zip(c, s, strict=True))]
    assert not differ, f"{len(differ)} of {len(texts)} queries rank differently, e.g. {differ[:3]}"
    assert sum(len(r) for r in server_side) > 0


@pytest.mark.parametrize("kind", ["stats", "plain"])
def test_same_top10_and_scores_as_the_client_body(client, data, scifact_indices, shipped, kind):
    """Every SciFact test query: the `nail` query ranks as the client-built bool of rank_feature clauses, with
    the index's idf as query weights (stats) or the model's query_weights.json (plain)."""
    texts = list(scifact_test_queries(data).values())
    assert len(texts) == 300
    assert_same_rankings(client, scifact_indices[kind], texts, shipped)


def test_hybrid_and_long_queries_match_the_client_body(client, data, scifact_indices, shipped):
    names = scifact_indices
    texts = list(scifact_test_queries(data).values())
    assert_same_rankings(client, names["stats"], texts[:50], shipped, mode="hybrid")
    # 100k characters: thousands of distinct tokens, pruned to the 1024 heaviest on both sides.
    words = " ".join(texts)
    long_text = (words * (100_000 // len(words) + 1))[:100_000]
    assert_same_rankings(client, names["stats"], [long_text, long_text.upper()], shipped)


def nail(text: str = "vitamin d and bone loss", **extra: Any) -> dict[str, Any]:
    return {"nail": {"field": "nail", "query": text, "model": MODEL, **extra}}


def test_inside_compound_queries_templates_and_explain(client, scifact_indices):
    names = scifact_indices
    index = names["stats"]
    plain = client.search(index=index, body={"query": nail(), "size": 5})["hits"]["hits"]
    top = plain[0]
    assert top["_score"] > 0
    scores = {h["_id"]: h["_score"] for h in plain}

    def first(query: dict[str, Any]) -> dict[str, Any]:
        return client.search(index=index, body={"query": query, "size": 5})["hits"]["hits"][0]

    assert first({"bool": {"should": [nail()], "filter": [{"ids": {"values": [top["_id"]]}}]}})["_score"] == \
        pytest.approx(top["_score"], rel=1e-6)
    doubled = first({"function_score": {"query": nail(), "functions": [{"weight": 2}], "boost_mode": "multiply"}})
    assert doubled["_id"] == top["_id"] and doubled["_score"] == pytest.approx(2 * top["_score"], rel=1e-6)
    assert first(nail(boost=3.0))["_score"] == pytest.approx(3 * top["_score"], rel=1e-6)
    assert first({"dis_max": {"queries": [nail(), {"match_none": {}}]}})["_id"] == top["_id"]
    templated = client.search_template(index=index, body={
        "source": {"query": {"nail": {"field": "nail", "query": "{{q}}", "model": MODEL}}, "size": 5},
        "params": {"q": "vitamin d and bone loss"}})["hits"]["hits"]
    assert {h["_id"]: h["_score"] for h in templated} == scores
    explained = client.explain(index=index, id=top["_id"], body={"query": nail()})
    assert explained["matched"] and explained["explanation"]["value"] == pytest.approx(top["_score"], rel=1e-6)


def raw_search(url: str, index: str, payload: bytes) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(f"{url}/{index}/_search", data=payload, method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as resp:  # noqa: S310 (the test node)
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


@pytest.mark.parametrize(("query", "reason"), [
    (nail(model="no-such-model"), "unknown model [no-such-model]"),
    (nail(model="../../etc"), "is not valid"),
    ({"nail": {"field": "nope", "query": "x", "model": MODEL}}, "field [nope] does not exist"),
    ({"nail": {"field": "title", "query": "x", "model": MODEL}}, "must be rank_features"),
    ({"nail": {"field": "nail", "query": 5, "model": MODEL}}, "[query] must be a string"),
    ({"nail": {"field": "nail", "query": ["a"], "model": MODEL}}, "[query] must be a string"),
    ({"nail": {"field": "nail", "query": "x"}}, "requires [model]"),
    (nail(boost="high"), "[boost] must be a number"),
    (nail(boost=-1), "[boost] must be a finite number >= 0"),
    (nail(max_clauses=0), "[max_clauses] must be an integer >= 1"),
    (nail(colour="red"), "unknown field [colour]"),
    (nail("x" * 1_000_001), "over the 1000000 allowed"),
])
def test_bad_input_is_a_400_that_names_it(node_url, scifact_indices, query, reason):
    names = scifact_indices
    status, body = raw_search(node_url, names["stats"], json.dumps({"query": query}).encode())
    assert status == 400, body
    assert reason in json.dumps(body), body


def test_invalid_utf8_is_a_400(node_url, scifact_indices):
    names = scifact_indices
    payload = b'{"query": {"nail": {"field": "nail", "model": "nail-minilm", "query": "vitamin \xff\xfe d"}}}'
    status, body = raw_search(node_url, names["stats"], payload)
    assert status == 400, body
    assert "Invalid UTF-8 start byte 0xff" in json.dumps(body), body


def test_invalid_utf8_in_a_model_upload_is_a_400(node_url):
    request = urllib.request.Request(f"{node_url}/_plugins/nail/models/test-bad-utf8", method="PUT",
                                     data=b'{"tokenizer": {"model": "\xff\xfe"}}',
                                     headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=60)  # noqa: S310 (the test node)
    assert refused.value.code == 400
    assert "Invalid UTF-8" in refused.value.read().decode(errors="replace")


@pytest.mark.parametrize("text", ["", "   ", "\u0000\u0007\u001f", "[CLS] [SEP]", "\u200b\u0301", "\U0001f600"])
def test_a_query_without_tokens_matches_nothing(node_url, scifact_indices, shipped, text):
    names = scifact_indices
    assert not shipped.tokenize_query(text)
    status, body = raw_search(node_url, names["stats"], json.dumps({"query": nail(text)}).encode())
    assert status == 200, body
    assert body["hits"]["hits"] == []


def test_control_characters_are_cleaned_as_the_client_does(client, scifact_indices, shipped):
    assert_same_rankings(client, scifact_indices["stats"], ["vitamin\u0007 d\u0000 and\u200b bone\tloss"], shipped)


def test_opensearch_plugin_tool_installs_the_zip(node_url):
    """`nail-os plugin install --opensearch-home DIR` runs DIR's own bin/opensearch-plugin on the zip (in a
    hard-linked copy of the assembled distribution, so the shared one is not touched) and copies the models."""
    import os
    import shutil
    import tempfile

    from click.testing import CliRunner

    from nail_os.cli.plugin import plugin
    from nail_os.server.assemble import distribution_dir

    release, _ = select_release()
    scratch = Path(tempfile.mkdtemp(prefix="test-plugin-install-", dir=nail_home()))  # same disk: hard links
    home = scratch / "opensearch"
    try:
        shutil.copytree(distribution_dir(release.version), home, copy_function=os.link)
        result = CliRunner().invoke(plugin, ["install", "--opensearch-home", str(home)])
        installed = (home / "plugins" / "nail" / "plugin-descriptor.properties").read_text() \
            if result.exit_code == 0 else ""
        models = (home / "config" / "nail" / "models" / MODEL / "tokenizer.json").is_file()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().endswith(".zip")
    assert "classname=org.nailos.opensearch.NailPlugin" in installed
    assert f"opensearch.version={release.version}" in installed
    assert models


def test_server_start_uploaded_the_shipped_model(client, node_url):
    """`nail-os server start` PUT the shipped model through _plugins/nail/models (no model folder on the node),
    so the `nail` query of every other test here reads the uploaded copy."""
    from nail_os.server.plugin import list_models

    assert MODEL in list_models(client)


def test_plugin_status_names_the_nodes_that_run_it(node_url):
    from click.testing import CliRunner

    from nail_os.cli.main import main

    result = CliRunner().invoke(main, ["--url", node_url, "plugin", "status", "--cluster"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["cluster"]["with_plugin"] == info["cluster"]["nodes"] == ["node-0"]
    assert info["cluster"]["plugin_versions"] == [info["version"]]
    assert info["zip"].endswith(".zip") and info["install_command"].endswith(info["zip"])


# --- models uploaded to the cluster ----------------------------------------------------------------------------

def raw(url: str, method: str, path: str, body: Any = None) -> tuple[int, dict[str, Any]]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url + path, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as resp:  # noqa: S310 (the test node)
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def test_upload_replace_and_delete_a_model(client, node_url, data, scifact_indices, shipped):
    """A second upload of the shipped model answers like the first (server start's); a replacement is seen by the next
    query; a deleted one is an unknown model (400)."""
    from nail_os.server.plugin import delete_model, list_models, upload_model

    names = scifact_indices
    index = names["plain"]
    texts = list(scifact_test_queries(data).values())[:40]
    name = "test-uploaded-minilm"
    assert upload_model(client, name, resolve_model_dir(MODEL))["vocab_size"] == shipped.vocab_size
    assert name in list_models(client)

    def server_side(model: str) -> list[list[tuple[str, float]]]:
        return ranked(client, index, [build_query(t, None, QueryOptions(server_side=True, model=model))
                                      for t in texts])

    from_files = server_side(MODEL)
    assert server_side(name) == from_files
    # Replace it with every query weight doubled: the same ranking, every score doubled.
    doubled = {k: 2 * v for k, v in json.loads((resolve_model_dir(MODEL) / "query_weights.json").read_text()).items()}
    status, _ = raw(node_url, "PUT", f"/_plugins/nail/models/{name}", {
        "tokenizer": json.loads((resolve_model_dir(MODEL) / "tokenizer.json").read_text()), "query_weights": doubled})
    assert status == 200
    after = server_side(name)
    assert [[d for d, _ in hits] for hits in after] == [[d for d, _ in hits] for hits in from_files]
    assert all(math.isclose(a, 2 * b, rel_tol=1e-6) for x, y in zip(after, from_files, strict=True)
               for (_, a), (_, b) in zip(x, y, strict=True))
    delete_model(client, name)
    assert name not in list_models(client)
    status, body = raw_search(node_url, index, json.dumps({"query": nail(model=name)}).encode())
    assert status == 400 and f"unknown model [{name}]" in json.dumps(body)


def test_queries_during_uploads_see_the_old_or_the_new_model_never_half(client, node_url, scifact_indices):
    """Four threads query a model while it is replaced four times, alternating its query weights between x1 and
    x2: every answer is a 200 whose scores are all x1 or all x2 of the first answer's (a half-written model would
    mix them), the answers after an upload returned see it, and both versions are seen along the way."""
    import threading

    index = scifact_indices["plain"]
    name = "test-concurrent-minilm"
    model_dir = resolve_model_dir(MODEL)
    tokenizer = json.loads((model_dir / "tokenizer.json").read_text())
    weights = json.loads((model_dir / "query_weights.json").read_text())

    def put(factor: float) -> None:
        status, answer = raw(node_url, "PUT", f"/_plugins/nail/models/{name}", {
            "tokenizer": tokenizer, "query_weights": {k: factor * v for k, v in weights.items()}})
        assert status == 200, answer

    payload = json.dumps({"query": nail("vitamin d and bone loss in older women", model=name), "size": 10}).encode()

    def scores() -> tuple[int, dict[str, float]]:
        status, body = raw_search(node_url, index, payload)
        return status, {h["_id"]: h["_score"] for h in body.get("hits", {}).get("hits", [])} if status == 200 else body

    put(1.0)
    status, base = scores()
    assert status == 200 and len(base) == 10
    answers: list[tuple[int, Any]] = []
    stop = threading.Event()

    def query_until_stopped() -> None:
        while not stop.is_set():
            answers.append(scores())

    threads = [threading.Thread(target=query_until_stopped) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        for factor in (2.0, 1.0, 2.0, 1.0, 2.0):
            put(factor)
            status, after = scores()  # an answer after the upload sees it
            assert status == 200 and after == pytest.approx({d: factor * v for d, v in base.items()}, rel=1e-5)
    finally:
        stop.set()
        for t in threads:
            t.join()
        delete = raw(node_url, "DELETE", f"/_plugins/nail/models/{name}")
    assert delete[0] == 200, delete
    assert len(answers) >= 20, len(answers)
    failed = [a for a in answers if a[0] != 200]
    assert not failed, f"{len(failed)} of {len(answers)} queries failed, e.g. {failed[:2]}"
    seen = set()
    for _, hits in answers:
        assert hits.keys() == base.keys(), hits
        ratios = {round(v / base[d], 4) for d, v in hits.items()}
        assert ratios in ({1.0}, {2.0}), f"scores of a half-old, half-new model: ratios {ratios}"
        seen |= ratios
    assert seen == {1.0, 2.0}


@pytest.mark.parametrize(("body", "reason"), [
    ({"query_weights": {}}, "needs \\\"tokenizer\\\""),
    ({"tokenizer": {"model": {"type": "BPE"}}}, "must be of type WordPiece"),
    ("weights 999999", "the weights belong to another tokenizer"),
    ("weights -1.0", "must be a finite number > 0"),
    ({"tokenizer": {}, "colour": 1}, "unknown field [colour]"),
])
def test_a_model_that_cannot_work_is_refused_with_a_400(node_url, body, reason):
    if isinstance(body, str):  # the shipped tokenizer with one bad weight
        kind, value = body.split()
        tokenizer = json.loads((resolve_model_dir(MODEL) / "tokenizer.json").read_text())
        weights = {value: 1.0} if kind == "weights" and value.isdigit() else {"1000": float(value)}
        body = {"tokenizer": tokenizer, "query_weights": weights}
    status, answer = raw(node_url, "PUT", "/_plugins/nail/models/test-bad-model", body)
    assert status == 400, answer
    assert reason in json.dumps(answer), answer
    assert raw(node_url, "GET", "/_plugins/nail/models/test-bad-model")[0] in (400, 404)


def shipped_tokenizer_json() -> dict[str, Any]:
    return json.loads((resolve_model_dir(MODEL) / "tokenizer.json").read_text())


@pytest.mark.parametrize(("mutate", "reason"), [
    (lambda t: t["model"].pop("vocab"), "[model][vocab] must be a non-empty object of token: id"),
    (lambda t: t["model"].update(vocab=["[UNK]", "a"]), "[model][vocab] must be a non-empty object of token: id"),
    (lambda t: t["model"]["vocab"].update(vitamin="x"), "gives token [vitamin] the id [x]"),
    (lambda t: t["model"]["vocab"].update(vitamin=-3), "gives token [vitamin] the id [-3]"),
    (lambda t: t["model"].update(unk_token="[NOPE]"), "unk_token [[NOPE]] is not in the vocabulary"),
    (lambda t: t["added_tokens"].append({"content": 5, "id": 1}), "does not have the layout"),
    (lambda t: t["added_tokens"].append({"content": "[NEW]"}), "does not have the layout"),
    (lambda t: t["normalizer"].update(strip_accents="yes"), "does not have the layout"),
])
def test_a_malformed_tokenizer_upload_is_a_400_that_names_it(node_url, mutate, reason):
    """tokenizer.json bodies that are JSON but not a WordPiece tokenizer's layout: a 400 naming the part."""
    tokenizer = shipped_tokenizer_json()
    mutate(tokenizer)
    status, answer = raw(node_url, "PUT", "/_plugins/nail/models/test-bad-tokenizer", {"tokenizer": tokenizer})
    assert status == 400, answer
    assert reason in json.dumps(answer), answer


@pytest.mark.parametrize(("weights", "reason"), [
    ({"abc": 1.0}, 'query weight entry [abc] is not \\"token id\\": number'),
    ({"5": "heavy"}, 'query weight entry [5] is not \\"token id\\": number'),
    ({"5": None}, 'query weight entry [5] is not \\"token id\\": number'),
    ({"5": float("inf")}, "must be a finite number > 0"),
    ([1.0, 2.0], "optionally \\\"query_weights\\\" (an object of token id: weight)"),
])
def test_query_weights_that_disagree_with_the_vocabulary_are_a_400(node_url, weights, reason):
    body = json.dumps({"tokenizer": shipped_tokenizer_json(), "query_weights": weights}).replace("Infinity", "1e999")
    request = urllib.request.Request(f"{node_url}/_plugins/nail/models/test-bad-weights", method="PUT",
                                     data=body.encode(), headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=60)  # noqa: S310 (the test node)
    answer = refused.value.read().decode()
    assert refused.value.code == 400, answer
    assert reason in answer, answer


def test_a_bad_model_name_is_a_400(node_url):
    assert raw(node_url, "PUT", "/_plugins/nail/models/..%2Fetc", {"tokenizer": {}})[0] == 400
