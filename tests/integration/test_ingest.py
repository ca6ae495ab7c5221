"""Ingest with the CLI's defaults: every document exactly once, bad lines listed, resume after a kill."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from nail_os.cli.main import main
from nail_os.corpus import read_corpus

from ..conftest import ROOT
from .reliability_kit import kill_ingest_after

pytestmark = pytest.mark.integration


def index_ids(client, index: str) -> list[str]:
    from nail_os.engines import engine_of

    client.indices.refresh(index=index)
    scan = engine_of(client).helpers().scan
    return [hit["_id"] for hit in scan(client, index=index, query={"query": {"match_all": {}}}, _source=False)]


def test_unseen_beir_collection_with_defaults(client, node_url, index_name, data, tmp_path, monkeypatch):
    """Medline (not used elsewhere in the tests), default options: each document present exactly once."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    result = CliRunner().invoke(main, ["--url", node_url, "ingest", str(data / "medline"), "--index", index_name,
                                       "--model", "splade-tiny"])
    assert result.exit_code == 0, result.output
    expected = [r.doc_id for r in read_corpus(data / "medline")]
    ids = index_ids(client, index_name)
    assert len(ids) == len(expected) == len(set(ids)) and set(ids) == set(expected)
    hits = CliRunner().invoke(main, ["--url", node_url, "search", "cancer treatment", "--index", index_name,
                                     "--model", "splade-tiny", "--mode", "hybrid"])
    assert hits.exit_code == 0 and hits.output.count("\n") == 10, hits.output


def test_bad_lines_are_rejected_and_the_rest_ingested(client, node_url, index_name, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    rejects = tmp_path / "rejects.jsonl"
    bad = ROOT / "ingest" / "samples" / "bad.jsonl"
    result = CliRunner().invoke(main, ["--url", node_url, "ingest", str(bad), "--index", index_name,
                                       "--model", "splade-tiny", "--rejects", str(rejects)])
    assert result.exit_code == 3, result.output
    assert str(rejects) in result.output.splitlines()[-1]
    listed = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert {(r["line"], r["id"]) for r in listed} == {
        (2, None), (3, None), (4, None), (5, None), (6, "empty-text"), (9, "nan-weight")
    }
    assert all(r["source"] == str(bad) and r["reason"] for r in listed)
    assert sorted(index_ids(client, index_name)) == ["good-1", "good-2", "u.s.-dotted"]


def test_killed_run_resumes_without_duplicates(engine_client, engine_url, engine_index, data, tmp_path):
    """SIGKILL the ingest half-way, run it again: every document exactly once (on either engine, which the
    CLI finds out from the URL)."""
    client, node_url, index_name = engine_client, engine_url, engine_index
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    corpus = data / "nfcorpus"
    cmd = [sys.executable, "-m", "nail_os", "--url", node_url, "ingest", str(corpus), "--index", index_name,
           "--model", "splade-tiny", "--chunk-size", "100", "--rejects", str(tmp_path / "rejects.jsonl")]
    done_before = kill_ingest_after(cmd, env, tmp_path, 1000, timeout=300)
    assert 1000 <= done_before < 3633
    state_dir = tmp_path / "cache" / "nail-os" / "ingest"

    second = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr
    assert f"skipped {done_before}" in second.stdout
    expected = {r.doc_id for r in read_corpus(corpus)}
    ids = index_ids(client, index_name)
    assert len(ids) == len(set(ids)) == len(expected) and set(ids) == expected
    assert not list(state_dir.glob("*.json")), "a finished run leaves no resume state behind"


def test_existing_index_gets_the_nail_field(client, node_url, index_name, tmp_path, monkeypatch):
    """A user's own index: add the field, fill it with --update, search it; other fields untouched."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    client.indices.create(index=index_name, body={"mappings": {"properties": {
        "name": {"type": "keyword"}, "text": {"type": "text"}, "price": {"type": "float"}}}})
    docs = {"p1": "Espresso machine with milk frother", "p2": "Green tea leaves from Japan"}
    for doc_id, text in docs.items():
        client.index(index=index_name, id=doc_id, body={"name": doc_id, "text": text, "price": 9.5}, refresh=True)
    source = tmp_path / "products.jsonl"
    source.write_text("".join(json.dumps({"_id": k, "text": v}) + "\n" for k, v in docs.items()))

    runner = CliRunner()
    added = runner.invoke(main, ["--url", node_url, "index", "add-nail-field", index_name])
    assert added.exit_code == 0, added.output
    filled = runner.invoke(main, ["--url", node_url, "ingest", str(source), "-i", index_name, "--update",
                                  "--model", "splade-tiny"])
    assert filled.exit_code == 0, filled.output
    found = runner.invoke(main, ["--url", node_url, "search", "coffee espresso", "-i", index_name,
                                 "--model", "splade-tiny", "--json", "--text-field", "text"])
    assert json.loads(found.output.splitlines()[0])["id"] == "p1"
    doc = client.get(index=index_name, id="p1")["_source"]
    assert doc["price"] == 9.5 and doc["name"] == "p1" and doc["nail"]


def test_incompatible_mapping_fails_before_sending(client, node_url, index_name, tmp_path):
    client.indices.create(index=index_name, body={"mappings": {"properties": {"nail": {"type": "keyword"}}}})
    result = CliRunner().invoke(main, ["--url", node_url, "ingest", str(ROOT / "ingest" / "samples" / "bad.jsonl"),
                                       "-i", index_name, "--model", "splade-tiny"])
    assert result.exit_code == 1 and "not rank_features" in result.output
    assert client.count(index=index_name)["count"] == 0
