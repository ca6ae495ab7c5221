"""The bulk sender thread of `nail_os.ingest` (IngestOptions.overlap) without a node: order, state, errors."""

from __future__ import annotations

import importlib
import json
import threading
import time

import pytest

from nail_os.corpus import Record
from nail_os.ingest import Ingester, IngestError, IngestOptions

# the module, not the `ingest` function that nail_os re-exports under the same name
ingest_module = importlib.import_module("nail_os.ingest")


class FakeEngine:
    """Acknowledges every action, remembering the ids of each bulk request; can fail the n-th request."""

    def __init__(self, fail_on: int | None = None, refuse: frozenset[str] = frozenset()) -> None:
        self.requests: list[list[str]] = []
        self.fail_on, self.refuse = fail_on, refuse
        self.threads: set[str] = set()

    def streaming_bulk(self, client, actions, *, request_timeout):
        self.threads.add(threading.current_thread().name)
        time.sleep(0.002)  # long enough for the main thread to prepare the next chunk meanwhile
        self.requests.append([a["_id"] for a in actions])
        if self.fail_on is not None and len(self.requests) == self.fail_on:
            raise OSError("boom")
        for a in actions:  # like the real helpers (yield_ok=False): only the items that failed
            if a["_id"] in self.refuse:
                error = {"type": "mapper_parsing_exception", "reason": "bad"}
                yield False, {"index": {"_id": a["_id"], "status": 400, "error": error}}

    def errors(self):
        return (OSError,)

    def is_connection_error(self, exc):
        return False

    def status_code(self, exc):
        return 400  # not retryable: the run stops with IngestError


def records(n: int) -> list[Record]:
    return [Record(source="t", line=i + 1, doc_id=f"d{i}", title="t", text=f"text {i}") for i in range(n)]


@pytest.fixture
def engine(monkeypatch):
    def make(**kw):
        fake = FakeEngine(**kw)
        monkeypatch.setattr(ingest_module, "engine_of", lambda client: fake)
        monkeypatch.setattr(ingest_module, "check_nail_field", lambda *a, **k: None)
        return fake

    return make


class FakeClient:
    class indices:  # noqa: N801 - stands in for client.indices
        @staticmethod
        def refresh(index):
            return None


@pytest.mark.parametrize("overlap", [False, True])
def test_chunks_are_sent_in_order_and_counted(engine, tmp_path, overlap):
    fake = engine(refuse=frozenset({"d7"}))
    options = IngestOptions(
        index="x",
        chunk_size=10,
        overlap=overlap,
        state_path=tmp_path / "state.json",
        rejects_path=tmp_path / "rejects.jsonl",
    )
    report = Ingester(FakeClient(), options).run(records(95), show_progress=False)
    assert [ids[0] for ids in fake.requests] == [f"d{i}" for i in range(0, 95, 10)]
    assert report.indexed == 94 and report.rejected == 1
    assert [json.loads(line)["id"] for line in (tmp_path / "rejects.jsonl").read_text().splitlines()] == ["d7"]
    assert not (tmp_path / "state.json").exists()
    assert ("nail-os-bulk" in fake.threads) == overlap


def test_a_sender_error_is_raised_and_the_state_marks_the_acknowledged_prefix(engine, tmp_path):
    fake = engine(fail_on=3)
    state = tmp_path / "state.json"
    options = IngestOptions(index="x", chunk_size=10, state_path=state)
    with pytest.raises(IngestError, match="boom"):
        Ingester(FakeClient(), options).run(records(100), show_progress=False)
    assert json.loads(state.read_text())["position"] == 20  # chunks 1 and 2 acknowledged, chunk 3 failed
    assert len(fake.requests) == 3  # nothing sent after the failure

    fake = engine()
    report = Ingester(FakeClient(), options).run(records(100), show_progress=False)
    assert report.skipped == 20 and report.indexed == 80
    assert fake.requests[0][0] == "d20" and not state.exists()


def test_a_strict_reject_on_the_main_thread_still_sends_what_was_handed_over(engine, tmp_path):
    fake = engine()
    state = tmp_path / "state.json"
    bad = records(50)
    bad[35] = Record(source="t", line=36, doc_id=None, title="t", text="no id")
    options = IngestOptions(index="x", chunk_size=10, strict=True, state_path=state)
    with pytest.raises(IngestError, match="missing document id"):
        Ingester(FakeClient(), options).run(bad, show_progress=False)
    assert json.loads(state.read_text())["position"] == 30
    assert [ids[0] for ids in fake.requests] == ["d0", "d10", "d20"]


@pytest.mark.parametrize("overlap", [False, True])
def test_streaming_ingest_yields_each_document_with_the_features_sent(engine, monkeypatch, overlap):
    from nail_os.features import to_feature_name
    from nail_os.ingest import streaming_ingest
    from nail_os.registry import resolve_model_dir
    from nail_os.tokens import Tokenizer

    engine(refuse=frozenset({"d3"}))
    monkeypatch.setattr(ingest_module, "ensure_tokens_field", lambda *a, **k: False)
    tokenizer = Tokenizer.from_model_dir(resolve_model_dir("splade-tiny"))
    coffee = to_feature_name(tokenizer.hf.token_to_id("coffee"))
    docs = records(6)
    for record in docs:
        record.features = {"coffee": 1.5}
    docs[4].features = {"coffee": float("nan")}  # refused by our checks, before any request
    options = IngestOptions(index="x", chunk_size=4, overlap=overlap, state_path=None, rejects_path=None)
    results = list(streaming_ingest(FakeClient(), docs, options, tokenizer=tokenizer, show_progress=False))

    assert sorted(r.doc_id for r in results) == [f"d{i}" for i in range(6)]
    by_id = {r.doc_id: r for r in results}
    assert sorted(d for d, r in by_id.items() if not r.ok) == ["d3", "d4"]
    assert "refused by the cluster (HTTP 400)" in by_id["d3"].error and "nan" in by_id["d4"].error
    assert by_id["d0"].features == {coffee: 1.5} and by_id["d0"].where.startswith("t:1")
    assert by_id["d3"].features is None
