"""`nail-os ingest --ray` (local Ray, splade-tiny): the index and the rejects file are those `nail-os ingest` makes."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from nail_os.cli.main import main

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
BAD = ROOT / "tests" / "data" / "bad_inputs" / "documents.jsonl"


def ingest_cli(node_url: str, source: Path, index: str, tmp_path: Path, *extra: str):
    args = ["--url", node_url, "ingest", str(source), "-i", index, "--model", "splade-tiny", "--chunk-size", "50",
            "--rejects", str(tmp_path / f"{index}.rejects.jsonl"), *extra]
    return CliRunner().invoke(main, args, env={"XDG_CACHE_HOME": str(tmp_path / "cache")})


def documents(client, index: str) -> dict[str, dict]:
    client.indices.refresh(index=index)
    return {h["_id"]: h["_source"] for h in client.search(index=index, body={"size": 500})["hits"]["hits"]}


def test_ray_ingest_fills_the_index_that_ingest_fills(local_ray, client, node_url, data, tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    with open(data / "scifact" / "corpus.jsonl", encoding="utf-8") as f:
        corpus.write_text("".join(line for _, line in zip(range(120), f, strict=False)), encoding="utf-8")
    plain, on_ray = "ray-test-plain", "ray-test-ray"
    try:
        assert ingest_cli(node_url, corpus, plain, tmp_path).exit_code == 0
        result = ingest_cli(node_url, corpus, on_ray, tmp_path, "--ray")
        assert result.exit_code == 0, result.output
        assert "indexed 120 documents" in result.output
        assert client.count(index=on_ray)["count"] == 120
        expected, got = documents(client, plain), documents(client, on_ray)
        assert len(got) == 120 and got == expected  # text, features and token statistics, field by field
        assert not list((tmp_path / "cache").rglob("*.ray")), "the finished run's state is removed"
    finally:
        client.indices.delete(index=[plain, on_ray], ignore_unavailable=True)


def test_ray_ingest_writes_the_rejects_lines_of_ingest(local_ray, client, node_url, tmp_path):
    plain, on_ray = "ray-test-bad-plain", "ray-test-bad-ray"
    try:
        first = ingest_cli(node_url, BAD, plain, tmp_path)
        second = ingest_cli(node_url, BAD, on_ray, tmp_path, "--ray")
        assert first.exit_code == second.exit_code == 3, second.output
        expected = (tmp_path / f"{plain}.rejects.jsonl").read_text(encoding="utf-8").splitlines()
        assert len(expected) >= 10
        assert (tmp_path / f"{on_ray}.rejects.jsonl").read_text(encoding="utf-8").splitlines() == expected
        assert documents(client, on_ray) == documents(client, plain)
    finally:
        client.indices.delete(index=[plain, on_ray], ignore_unavailable=True)
