"""`nail-os eval` end to end on a tiny real BEIR folder (200 MEDLINE abstracts) against the real node."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from nail_os.cli.main import main
from nail_os.corpus import read_qrels
from nail_os.documents import EMPTY_TEXT
from nail_os.registry import resolve_model_dir
from nail_os.tokens import Tokenizer

pytestmark = pytest.mark.integration
QUERIES = 8
DOCS = 200


def tiny_beir(data: Path, dest: Path) -> Path:
    """The first QUERIES judged MEDLINE queries, their judged documents (up to 10 each) and unjudged filler
    up to DOCS documents, in corpus order, with the matching queries.jsonl and qrels/test.tsv."""
    qrels = read_qrels(data / "medline", "test")
    chosen = sorted(qrels, key=int)[:QUERIES]
    wanted = {d for q in chosen for d in sorted(qrels[q], key=int)[:10]}
    lines = (data / "medline" / "corpus.jsonl").read_text(encoding="utf-8").splitlines()
    judged = [line for line in lines if json.loads(line)["_id"] in wanted]
    filler = [line for line in lines if json.loads(line)["_id"] not in wanted][: DOCS - len(judged)]
    (dest / "qrels").mkdir(parents=True)
    (dest / "corpus.jsonl").write_text("\n".join(judged + filler) + "\n", encoding="utf-8")
    queries = [line for line in (data / "medline" / "queries.jsonl").read_text(encoding="utf-8").splitlines()
               if json.loads(line)["_id"] in chosen]
    (dest / "queries.jsonl").write_text("\n".join(queries) + "\n", encoding="utf-8")
    rows = ["query-id\tcorpus-id\tscore"] + [f"{q}\t{d}\t{r}" for q in chosen for d, r in qrels[q].items()
                                             if d in wanted]
    (dest / "qrels" / "test.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return dest


def test_eval_measures_every_mode_through_the_node(node_url, client, index_name, data, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # the features cache of this test only
    source = tiny_beir(data, tmp_path / "tiny")
    out = tmp_path / "results"
    args = ["--url", node_url, "eval", str(source), "--model", "splade-tiny", "--index", index_name, "--out",
            str(out), "--hybrid-weights", "0.5,1,2", "--latency-repeats", "1", "--device", "cpu"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0].startswith("| mode | nDCG@10 |")

    r = json.loads((out / "results.json").read_text())
    assert r["dataset"] == {"name": "tiny", "source": str(source), "split": "test", "queries": QUERIES,
                            "judgments": r["dataset"]["judgments"], "documents": DOCS}
    assert set(r["quality"]) == {"bm25", "nail", "hybrid"}
    for mode, scores in r["quality"].items():
        assert set(scores) == {"nDCG@10", "R@100", "R@1000", "RR@10", "AP"}
        # Every judged document is among the 200 indexed, so each mode retrieves most of them at depth 1000.
        assert scores["R@1000"] > 0.8, f"{mode}: {scores}"
    assert [row["nail_weight"] for row in r["hybrid_sweep"]["test"]] == [0.5, 1.0, 2.0]
    assert r["hybrid_sweep"]["default"]["nDCG@10"] == r["quality"]["hybrid"]["nDCG@10"]
    assert set(r["significance"]) == {"nail", "hybrid"}

    # OpenSearch ranks by the exact dot product of the weights as it stores them.
    ex = r["exactness"]
    assert ex["queries"] == QUERIES and ex["unexplained_count"] == 0
    assert ex["identical_stored"] + ex["explained_by_ties"] == QUERIES

    sizes = r["index_size"]
    assert sizes["bm25_only"]["docs"] == sizes["full"]["docs"] == DOCS
    assert sizes["full"]["segments"] == sizes["bm25_only"]["segments"] == 1
    assert sizes["nail_field"]["bytes"] > 0
    assert r["features"]["postings_per_doc"]["mean"] > 10
    lat = r["latency"]
    assert lat["modes"]["bm25"]["client_ms"]["n"] == QUERIES and lat["ratios"]["bm25"]["client_ms"]["p50"] == 1.0
    assert r["environment"]["opensearch"]["version"] and r["environment"]["command"].startswith("nail-os")
    for mode in ("bm25", "nail", "hybrid"):
        assert (out / "runs" / f"{mode}.trec.gz").is_file()
    assert (out / "results.md").read_text().startswith("# tiny:")
    assert not client.indices.exists(index=index_name + "-bm25only")

    # A second run reuses the index: same document count, same model, features cached.
    shutil.rmtree(out)
    again = CliRunner().invoke(main, [*args, "--modes", "bm25,nail", "--hybrid-weights", "none"])
    assert again.exit_code == 0, again.output
    r2 = json.loads((out / "results.json").read_text())
    assert r2["index"]["reused"] is True
    assert r2["quality"]["nail"] == r["quality"]["nail"]

    # An index of that name built from other input (another cluster's run left the shared features cache
    # matching this one's) is rebuilt, not reused: its own _meta is checked too.
    client.indices.put_mapping(index=index_name, body={"_meta": {"nail_os": {"model_fingerprint": "another"}}})
    shutil.rmtree(out)
    third = CliRunner().invoke(main, [*args, "--modes", "bm25,nail", "--hybrid-weights", "none"])
    assert third.exit_code == 0, third.output
    assert json.loads((out / "results.json").read_text())["index"]["reused"] is False


def test_eval_indexes_pre_encoded_features_instead_of_encoding(node_url, client, index_name, data, tmp_path,
                                                           monkeypatch):
    """`--features`: the weights a GPU machine wrote with `nail-os encode` are what the node ranks by."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    source = tiny_beir(data, tmp_path / "tiny")
    encoded = tmp_path / "tiny.features.jsonl"
    done = CliRunner().invoke(main, ["encode", str(source), "-m", "splade-tiny", "-o", str(encoded), "-q",
                                     "--device", "cpu"])
    assert done.exit_code == 0, done.output
    lines = [json.loads(line) for line in encoded.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == DOCS
    # Plant a marker: the last (unjudged filler) document gets one huge weight on a token of the first query.
    query = json.loads((source / "queries.jsonl").read_text(encoding="utf-8").splitlines()[0])
    tokenizer = Tokenizer.from_model_dir(resolve_model_dir("splade-tiny"))
    token = max(tokenizer.tokenize_query(query["text"]), key=lambda t: t.weight).token
    lines[-1]["features"] = {token: 1000.0}
    encoded.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    # Empty another filler document's title and text in the corpus, keeping its features in the file: text
    # ingest refuses a document with no text, so `--features` must refuse it too, not index its features.
    blank = lines[-2]["id"]
    corpus = [json.loads(line) for line in (source / "corpus.jsonl").read_text(encoding="utf-8").splitlines()]
    for doc in corpus:
        if doc["_id"] == blank:
            doc["title"], doc["text"] = "", " "
    (source / "corpus.jsonl").write_text("".join(json.dumps(doc) + "\n" for doc in corpus), encoding="utf-8")

    out = tmp_path / "results"
    args = ["--url", node_url, "eval", str(source), "--model", "splade-tiny", "--index", index_name, "--out",
            str(out), "--modes", "bm25,nail", "--hybrid-weights", "none", "--latency-repeats", "1",
            "--features", str(encoded), "--no-plots"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    r = json.loads((out / "results.json").read_text())
    assert r["dataset"]["documents"] == DOCS - 1 and r["options"]["features"] == str(encoded)
    ingested = r["index"]["ingest"]
    assert (ingested["indexed"], ingested["rejected"]) == (DOCS - 1, 1), ingested
    assert ingested["reasons"] == {"empty text": 1}
    refused = [json.loads(line) for line in Path(ingested["rejects"]).read_text(encoding="utf-8").splitlines()]
    assert [(entry["id"], entry["reason"]) for entry in refused] == [(blank, EMPTY_TEXT)]
    assert not client.exists(index=index_name, id=blank), "an empty-text document was indexed from its features"
    assert r["exactness"]["unexplained_count"] == 0
    with gzip.open(out / "runs" / "nail.trec.gz", "rt") as run:
        first = next(line.split() for line in run if line.split()[0] == query["_id"])
    assert first[2] == lines[-1]["id"], "the planted weight was not what the node ranked by"

    # A corpus document missing from the file is an error that names it, not a silent re-encode.
    encoded.write_text("".join(json.dumps(line) + "\n" for line in lines[:-1]), encoding="utf-8")
    missing = CliRunner().invoke(main, [*args, "--reindex"])
    assert missing.exit_code != 0
    assert f'doc "{lines[-1]["id"]}" has no features in {encoded}' in missing.output
