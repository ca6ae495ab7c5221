"""`nail-os ingest --ray` (local Ray, splade-tiny): the index and the rejects file are those `nail-os ingest` makes,
duplicate ids across blocks included, and a run killed half-way and started again indexes each document once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
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


@pytest.mark.parametrize("block_size", [None, 5])  # 5: the two "ok-1" (lines 1 and 7) fall in different blocks
def test_ray_ingest_writes_the_rejects_lines_of_ingest(local_ray, client, node_url, tmp_path, block_size):
    plain, on_ray = "ray-test-bad-plain", "ray-test-bad-ray"
    blocks = ["--block-size", str(block_size)] if block_size else []
    try:
        first = ingest_cli(node_url, BAD, plain, tmp_path)
        second = ingest_cli(node_url, BAD, on_ray, tmp_path, "--ray", *blocks)
        assert first.exit_code == second.exit_code == 3, second.output
        expected = (tmp_path / f"{plain}.rejects.jsonl").read_text(encoding="utf-8").splitlines()
        assert len(expected) >= 10
        assert (tmp_path / f"{on_ray}.rejects.jsonl").read_text(encoding="utf-8").splitlines() == expected
        assert documents(client, on_ray) == documents(client, plain)
    finally:
        client.indices.delete(index=[plain, on_ray], ignore_unavailable=True)


def test_a_killed_ray_ingest_resumes_and_indexes_each_document_once(local_ray, client, node_url, data, tmp_path):
    """100 SciFact documents and, at the end, a second copy of the first one (a duplicate across blocks)."""
    corpus = tmp_path / "corpus.jsonl"
    with open(data / "scifact" / "corpus.jsonl", encoding="utf-8") as f:
        lines = [line for _, line in zip(range(100), f, strict=False)]
    corpus.write_text("".join(lines) + lines[0], encoding="utf-8")
    plain, on_ray = "ray-test-resume-plain", "ray-test-resume-ray"
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    command = [sys.executable, "-m", "nail_os", "--url", node_url, "ingest", str(corpus), "-i", on_ray,
               "--model", "splade-tiny", "--rejects", str(tmp_path / f"{on_ray}.rejects.jsonl"),
               "--ray", "--address", local_ray, "--block-size", "5", "--actors", "1"]
    try:
        assert ingest_cli(node_url, corpus, plain, tmp_path).exit_code == 3  # 3: a document was rejected
        driver = subprocess.Popen(command, env=env, start_new_session=True, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 240
        manifest = None
        while time.monotonic() < deadline and driver.poll() is None:
            manifest = next((tmp_path / "cache").rglob("manifest.jsonl"), None)
            if manifest is not None and len(manifest.read_text().splitlines()) >= 3:
                break
            time.sleep(0.2)
        assert driver.poll() is None, f"the run ended before the kill: {driver.stdout.read().decode()[-2000:]}"
        os.killpg(driver.pid, signal.SIGKILL)
        driver.wait()
        assert manifest is not None and 3 <= len(manifest.read_text().splitlines()) < 21

        resumed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
        assert resumed.returncode == 3, resumed.stdout + resumed.stderr
        assert "indexed" in resumed.stdout and "skipped 0 done earlier" not in resumed.stdout, resumed.stdout
        assert client.count(index=on_ray)["count"] == 100
        assert documents(client, on_ray) == documents(client, plain)
        expected = (tmp_path / f"{plain}.rejects.jsonl").read_text(encoding="utf-8").splitlines()
        assert len(expected) == 1 and "duplicate document id" in expected[0]
        assert (tmp_path / f"{on_ray}.rejects.jsonl").read_text(encoding="utf-8").splitlines() == expected
    finally:
        client.indices.delete(index=[plain, on_ray], ignore_unavailable=True)
