"""Shared by the fault, security and load tests: cheap pre-encoded corpora, read-back checksums, a private
node for destructive tests, and a loopback TCP proxy that makes bulk requests slow or cuts them.

Nothing here mocks the engine: every helper talks to (or sits in front of) a real OpenSearch node.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from opensearchpy import OpenSearch, helpers

from nail_os.corpus import Record, read_corpus
from nail_os.documents import nail_features
from nail_os.tokens import Tokenizer


def kill_ingest_after(cmd: list[str], env: dict[str, str], cwd: Path, at: int, *, timeout: float,
                      poll: float = 0.2) -> int:
    """Start the ingest CLI `cmd`, SIGKILL it once its resume state (under `$XDG_CACHE_HOME/nail-os/ingest`)
    marks `at` documents done, and return the position the state file kept: what a rerun must skip."""
    state_dir = Path(env["XDG_CACHE_HOME"]) / "nail-os" / "ingest"
    first = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and first.poll() is None:
        states = list(state_dir.glob("*.json")) if state_dir.is_dir() else []
        if states and json.loads(states[0].read_text()).get("position", 0) >= at:
            break
        time.sleep(poll)
    assert first.poll() is None, f"ingest ended before it could be killed: {first.communicate()}"
    first.send_signal(signal.SIGKILL)  # no shutdown hook, no flush: a crash or the OOM killer
    first.wait()
    return int(json.loads(next(state_dir.glob("*.json")).read_text())["position"])


# Tokens kept per pseudo-encoded document: the order of a SPLADE/NAIL document's non-zero weights.
PSEUDO_TOP_K = 64


# --- corpora ------------------------------------------------------------------------------------------------

def pseudo_encode(records: list[Record], tokenizer: Tokenizer, top_k: int = PSEUDO_TOP_K) -> list[Record]:
    """Give each record `features` = {token: 1 + ln(tf)} over the model's vocabulary (its `top_k` most frequent).

    A stand-in for the neural encoder: deterministic, a few seconds for SciFact on one core, and it exercises
    the pre-encoded ingest path with real vocabulary tokens, so NAIL queries match what they should.
    """
    encodings = tokenizer.hf.encode_batch([r.full_text for r in records], add_special_tokens=False)
    for record, encoding in zip(records, encodings, strict=True):
        counts = Counter(i for i in encoding.ids if i not in tokenizer.special_ids)
        record.features = {tokenizer.id_to_token(i): round(1.0 + math.log(n), 4) for i, n in counts.most_common(top_k)}
    return records


_ENCODED: dict[str, list[Record]] = {}


def encoded_corpus(folder: Path, tokenizer: Tokenizer) -> list[Record]:
    """The BEIR corpus at `folder`, pseudo-encoded once per test session (copies, so tests may change them)."""
    key = str(folder)
    if key not in _ENCODED:
        _ENCODED[key] = pseudo_encode(list(read_corpus(folder)), tokenizer)
    return [replace(r, features=dict(r.features or {})) for r in _ENCODED[key]]


def write_jsonl(records: Iterable[Record], path: Path) -> Path:
    """Pre-encoded records as the JSONL `nail-os ingest` reads: {"_id", "title", "text", "features"}."""
    with path.open("w", encoding="utf-8") as out:
        for r in records:
            out.write(json.dumps({"_id": r.doc_id, "title": r.title, "text": r.text, "features": r.features}) + "\n")
    return path


# --- checksums ----------------------------------------------------------------------------------------------

def _digest(pairs: Iterable[tuple[str, dict[str, float]]]) -> str:
    h = hashlib.sha256()
    for doc_id, features in sorted(pairs):
        h.update(json.dumps([doc_id, sorted(features.items())]).encode())
        h.update(b"\n")
    return h.hexdigest()


def expected_checksum(records: Iterable[Record], tokenizer: Tokenizer) -> str:
    """sha256 over sorted (id, features as nail-os sends them: named by token id, weights quantized)."""
    return _digest((r.doc_id, nail_features(r.features or {}, tokenizer)) for r in records)  # type: ignore[misc]


def index_checksum(client: OpenSearch, index: str, nail_field: str = "nail") -> tuple[int, list[str], str]:
    """(count, ids, checksum) read back from `index`; its features must be kept in `_source`."""
    client.indices.refresh(index=index)
    count = client.count(index=index)["count"]
    ids: list[str] = []
    pairs = []
    for hit in helpers.scan(client, index=index, query={"query": {"match_all": {}}}, _source=[nail_field], size=1000):
        ids.append(hit["_id"])
        pairs.append((hit["_id"], hit["_source"].get(nail_field, {})))
    return count, ids, _digest(pairs)


def assert_exactly_once(client: OpenSearch, index: str, records: list[Record], tokenizer: Tokenizer) -> None:
    """Every record is in `index` once, with the features it was sent: count, ids and checksum agree."""
    count, ids, checksum = index_checksum(client, index)
    expected = {r.doc_id for r in records}
    missing, extra = expected - set(ids), set(ids) - expected
    assert count == len(ids) == len(set(ids)) == len(expected), (
        f"count {count}, {len(ids)} ids read back ({len(set(ids))} distinct), expected {len(expected)}; "
        f"missing {sorted(missing)[:5]}, unexpected {sorted(extra)[:5]}"
    )
    assert checksum == expected_checksum(records, tokenizer), "features read back differ from the features sent"


# --- a private node for destructive tests -------------------------------------------------------------------

def free_port(span: int = 1) -> int:
    """A loopback port p with p..p+span-1 and their transport ports (+100) free."""
    for _ in range(50):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port + 100 + span < 65535:
            return port
    raise RuntimeError("no free loopback port")


class PrivateNode:
    """A node of our own (data dir + port) that a test may kill, restart or configure oddly."""

    def __init__(self, settings: dict[str, object] | None = None, heap: str = "512m") -> None:
        from nail_os import server

        home = server.nail_home()
        home.mkdir(parents=True, exist_ok=True)
        # Not under pytest's tmp (mode 700): the node runs as its own user when the tests run as root.
        self.data_dir = Path(tempfile.mkdtemp(prefix="fault-node-", dir=home))
        self.data_dir.chmod(0o755)
        self.port, self.settings, self.heap = free_port(), settings or {}, heap
        self.url = ""

    def start(self) -> str:
        """Start (or find running) the node on the same data dir and port, with the same settings."""
        from nail_os import server

        self.url = server.start(port=self.port, data_dir=self.data_dir, heap=self.heap, settings=self.settings)
        return self.url

    def kill(self) -> list[int]:
        """SIGKILL every java pid of the node: no shutdown hook, no flush, as a crash or the OOM killer would."""
        import os
        import signal

        from nail_os import server

        pids = server.status(self.data_dir)["pids"]
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while server.status(self.data_dir)["running"] and time.monotonic() < deadline:
            time.sleep(0.1)
        return pids

    def remove(self) -> None:
        from nail_os import server

        server.stop(self.data_dir)
        shutil.rmtree(self.data_dir, ignore_errors=True)


# --- a loopback proxy that slows or cuts bulk requests ------------------------------------------------------

class FaultyProxy:
    """TCP proxy on 127.0.0.1 in front of `upstream` ("host:port"). The first `faults` bulk requests get:

    - "delay": the node's answer held back `delay` seconds (a slow node: the client times out, while the node
      has indexed the chunk, so the resend must overwrite, not duplicate);
    - "reset": the request's first bytes forwarded, then both connections closed before any answer (a dropped
      link: the client cannot know whether the chunk was indexed).

    Every other byte is passed through unchanged.
    """

    def __init__(self, upstream: str, mode: str, faults: int, delay: float = 2.0) -> None:
        host, port = upstream.rsplit(":", 1)
        self.upstream = (host, int(port))
        self.mode, self.faults, self.delay = mode, faults, delay
        self.faulted = 0
        self._lock = threading.Lock()
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True, name="proxy-accept").start()

    def close(self) -> None:
        self._stop.set()
        self._server.close()

    def __enter__(self) -> FaultyProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _take_fault(self, data: bytes) -> bool:
        if b"_bulk" not in data.split(b"\r\n", 1)[0]:
            return False
        with self._lock:
            if self.faulted >= self.faults:
                return False
            self.faulted += 1
            return True

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True, name="proxy-conn").start()

    def _serve(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.upstream, timeout=30)
        except OSError:
            client.close()
            return
        held = threading.Event()  # set: the next answer from the node is to be delayed

        def down() -> None:  # node → client
            _pump(upstream, client, before=lambda: held.is_set() and (time.sleep(self.delay), held.clear()))

        threading.Thread(target=down, daemon=True, name="proxy-down").start()
        try:
            while data := client.recv(1 << 16):
                fault = self._take_fault(data)
                upstream.sendall(data)
                if fault and self.mode == "reset":
                    client.shutdown(socket.SHUT_RDWR)
                    break
                if fault and self.mode == "delay":
                    held.set()
        except OSError:
            pass
        finally:
            for sock in (client, upstream):
                sock.close()


def _pump(src: socket.socket, dst: socket.socket, before: Callable[[], object]) -> None:
    try:
        while data := src.recv(1 << 16):
            before()
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (src, dst):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def all_at_once(target: Callable[[int], object], workers: int, name: str, timeout: float = 240) -> None:
    """`target(0)` … `target(workers - 1)`, each on a thread of its own, all started before any is awaited."""
    threads = [threading.Thread(target=target, args=(k,), name=f"{name}-{k}") for k in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=timeout)


# --- the reliability table ----------------------------------------------------------------------------------

def record_row(record_property: Callable[[str, Any], None], scenario: str, happened: str, lost: int) -> None:
    """One row of eval/results/reliability.md (eval/reliability.py collects them from the test run)."""
    record_property("reliability", json.dumps({"scenario": scenario, "happened": happened, "lost": lost}))


def gated(records: Iterable[Record], at: int, action: Callable[[], object]) -> Iterator[Record]:
    """`records`, running `action` once just before record number `at` (1-based) is handed out."""
    for n, record in enumerate(records, start=1):
        if n == at:
            action()
        yield record
