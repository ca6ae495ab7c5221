"""`nail-os encode --ray` on a local Ray (2 CPUs, splade-tiny): the same features as `nail-os encode`, and a run
killed (the whole driver, or one encoder actor) loses and duplicates nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from nail_os.cli.main import main
from nail_os.corpus import read_corpus, read_jsonl
from nail_os.distributed import RayOptions, encode_corpus_ray, plan_blocks, read_block, taken_earlier

ROOT = Path(__file__).resolve().parents[2]
BAD = ROOT / "tests" / "data" / "bad_inputs" / "documents.jsonl"


@pytest.fixture()
def corpus(data, tmp_path) -> Path:
    """The first 100 SciFact documents."""
    path = tmp_path / "corpus.jsonl"
    with open(data / "scifact" / "corpus.jsonl", encoding="utf-8") as f:
        path.write_text("".join(line for _, line in zip(range(100), f, strict=False)), encoding="utf-8")
    return path


def descendants_running(marker: str) -> list[int]:
    """Pids of this process's descendants whose command line holds `marker` (our own Ray's workers only: the
    raylet is this process's child, its workers the raylet's)."""
    rows = [line.split(None, 2) for line in subprocess.run(["ps", "-eo", "pid=,ppid=,args="], capture_output=True,
                                                           text=True, check=True).stdout.splitlines()]
    parent = {int(pid): int(ppid) for pid, ppid, *_ in rows}
    found = []
    for pid, _, *args in rows:
        ancestor = parent.get(int(pid))
        while ancestor not in (None, 0, 1, os.getpid()):
            ancestor = parent.get(ancestor)
        if ancestor == os.getpid() and args and marker in args[0]:
            found.append(int(pid))
    return found


def plain_encode(corpus: Path, output: Path, batch_size: int) -> str:
    from nail_os.model import encode_corpus

    encode_corpus("splade-tiny", corpus, output, batch_size=batch_size, resume=False, show_progress=False)
    return output.read_text(encoding="utf-8")


def test_blocks_read_the_lines_that_read_jsonl_reads():
    whole = [(r.line, r.doc_id, r.error, r.raw) for r in read_jsonl(BAD)]
    for size in (1, 4, 1000):
        blocks = plan_blocks(BAD, size)
        assert [(r.line, r.doc_id, r.error, r.raw) for b in blocks for r in read_block(b)] == whole
        assert sum(b.lines for b in blocks) == BAD.read_bytes().count(b"\n")


def test_taken_earlier_gives_each_block_the_ids_an_earlier_block_took():
    a, b, c = b"a" * 8, b"b" * 8, b"c\x00" * 4
    assert taken_earlier({0: a + b, 1: c + a, 2: b + c}) == {0: b"", 1: a, 2: b + c}


def write_parquet(records: list[dict], path: Path, row_group_size: int = 7) -> Path:
    """`records` as a Parquet file of small row groups, so that blocks start and end inside them."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(records), path, row_group_size=row_group_size)
    return path


def test_parquet_blocks_read_the_rows_read_parquet_reads(tmp_path):
    rows = [{"_id": f"d{i}", "title": f"t{i}", "text": f"text {i}"} for i in range(20)]
    rows[5]["_id"] = None  # a row without an id is reported, like a JSONL line without one
    path = write_parquet(rows, tmp_path / "c.parquet")
    whole = [(r.line, r.doc_id, r.full_text, r.error) for r in read_corpus(path)]
    assert [w[:3] for w in whole][:2] == [(1, "d0", "t0 text 0"), (2, "d1", "t1 text 1")] and len(whole) == 20
    assert "missing or empty document id" in whole[5][3]
    for size, lines in ((1, [7, 7, 6]), (7, [7, 7, 6]), (10, [14, 6]), (1000, [20])):  # row groups: 7, 7, 6
        blocks = plan_blocks(path, size)
        assert [b.lines for b in blocks] == lines
        assert [(r.line, r.doc_id, r.full_text, r.error) for b in blocks for r in read_block(b)] == whole


def test_parquet_in_and_out_gives_the_features_of_jsonl(local_ray, corpus, tmp_path):
    """`encode --ray` reads a Parquet corpus (`_id`, `title`, `text`) and writes Parquet (`id`, `features`) that
    holds the JSONL run's features, and that `read_corpus` reads back as pre-encoded records."""
    import pyarrow.parquet as pq

    lines = [json.loads(line) for line in corpus.read_text(encoding="utf-8").splitlines()]
    # Row groups of 64: the blocks are then the single process's chunks, so the batches (and weights) are the same.
    source = write_parquet([{k: d[k] for k in ("_id", "title", "text")} for d in lines], tmp_path / "c.parquet", 64)
    expected = [json.loads(line) for line in plain_encode(corpus, tmp_path / "plain.jsonl", batch_size=2).splitlines()]
    report = encode_corpus_ray("splade-tiny", source, tmp_path / "ray.parquet", batch_size=2, show_progress=False)
    assert report.written == 100
    table = pq.read_table(tmp_path / "ray.parquet").to_pylist()
    assert [{"id": row["id"], "features": dict(row["features"])} for row in table] == expected
    assert [(r.doc_id, r.features) for r in read_corpus(tmp_path / "ray.parquet")] == [
        (e["id"], e["features"]) for e in expected]


def test_device_cuda_on_a_cluster_without_gpus_is_an_error(local_ray, corpus, tmp_path):
    from nail_os.distributed import RayDeviceError

    with pytest.raises(RayDeviceError, match="no GPU"):
        encode_corpus_ray("splade-tiny", corpus, tmp_path / "ray.jsonl", show_progress=False,
                          ray_options=RayOptions(device="cuda"))


def test_ray_features_equal_the_single_process_ones(local_ray, corpus, tmp_path):
    # batch 2: the single process encodes chunks of 64 documents; Ray's blocks are those 64 lines by default.
    expected = plain_encode(corpus, tmp_path / "plain.jsonl", batch_size=2)
    report = encode_corpus_ray("splade-tiny", corpus, tmp_path / "ray.jsonl", batch_size=2, show_progress=False)
    assert (report.written, report.blocks) == (100, 2)
    assert (tmp_path / "ray.jsonl").read_text(encoding="utf-8") == expected
    assert not (tmp_path / "ray.jsonl.parts").exists()


def test_bad_lines_are_reported_like_encode_corpus(local_ray, tmp_path):
    from nail_os.corpus import CorpusError
    from nail_os.model import encode_corpus

    with pytest.raises(CorpusError) as plain:
        encode_corpus("splade-tiny", BAD, tmp_path / "plain.jsonl", resume=False, show_progress=False)
    with pytest.raises(CorpusError) as on_ray:
        encode_corpus_ray("splade-tiny", BAD, tmp_path / "ray.jsonl", ray_options=RayOptions(block_size=5),
                          show_progress=False)
    unreadable = [line for line in str(plain.value).splitlines() if str(BAD) in line and "skipped" not in line]
    assert unreadable and unreadable == [line for line in str(on_ray.value).splitlines() if line in unreadable]
    ids = [json.loads(line)["id"] for line in (tmp_path / "ray.jsonl").read_text(encoding="utf-8").splitlines()]
    assert ids == [json.loads(line)["id"] for line in (tmp_path / "plain.jsonl").read_text().splitlines()]


def test_a_killed_run_resumes_without_losing_or_repeating_a_document(local_ray, corpus, tmp_path):
    # batch 1: no padding, so any block size gives the single process's weights.
    expected = plain_encode(corpus, tmp_path / "plain.jsonl", batch_size=1)
    output = tmp_path / "ray.jsonl"
    command = [sys.executable, "-m", "nail_os", "encode", str(corpus), "-m", "splade-tiny", "-o", str(output),
               "--batch-size", "1", "--ray", "--address", local_ray, "--block-size", "5", "--actors", "1", "-q"]
    driver = subprocess.Popen(command, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    manifest = Path(f"{output}.parts") / "manifest.jsonl"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and driver.poll() is None:
        if manifest.is_file() and len(manifest.read_text().splitlines()) >= 3:
            break
        time.sleep(0.2)
    assert driver.poll() is None, f"the run ended before the kill: {driver.stdout.read().decode()[-2000:]}"
    os.killpg(driver.pid, signal.SIGKILL)
    driver.wait()
    finished = len(manifest.read_text().splitlines())
    assert 3 <= finished < 20 and not output.exists()

    resumed = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "of 20 blocks done earlier" in resumed.stdout  # those in the manifest, and any that landed since
    assert output.read_text(encoding="utf-8") == expected  # every document once, in corpus order


def test_an_encoder_actor_killed_mid_run_is_replaced_by_ray(local_ray, corpus, tmp_path):
    expected = plain_encode(corpus, tmp_path / "plain.jsonl", batch_size=1)
    output = tmp_path / "ray.jsonl"
    result: dict[str, object] = {}

    def run() -> None:
        try:
            result["report"] = encode_corpus_ray("splade-tiny", corpus, output, batch_size=1, show_progress=False,
                                                 ray_options=RayOptions(block_size=5, actors=1))
        except Exception as exc:  # noqa: BLE001 - the test's failure
            result["error"] = exc

    runner = threading.Thread(target=run)
    runner.start()
    manifest = Path(f"{output}.parts") / "manifest.jsonl"
    killed = None
    deadline = time.monotonic() + 240
    while killed is None and time.monotonic() < deadline and runner.is_alive():
        if manifest.is_file() and len(manifest.read_text().splitlines()) >= 2:
            actors = descendants_running("_BlockWorker")
            if actors:
                killed = actors[0]
                os.kill(killed, signal.SIGKILL)
        time.sleep(0.1)
    runner.join(timeout=300)
    assert killed is not None, "no encoder actor found to kill"
    assert "error" not in result, result.get("error")
    assert output.read_text(encoding="utf-8") == expected


def test_without_ray_installed_the_cli_names_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    result = CliRunner().invoke(main, ["encode", str(BAD), "-o", str(tmp_path / "out.jsonl"), "--ray"])
    assert result.exit_code == 1
    assert "pip install 'nail-os[ray]'" in result.output


def test_parquet_output_without_ray_is_refused(corpus, tmp_path):
    result = CliRunner().invoke(main, ["encode", str(corpus), "-m", "splade-tiny", "-o", str(tmp_path / "x.parquet")])
    assert result.exit_code == 2 and "Parquet output is written by --ray" in result.output
