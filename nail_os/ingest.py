"""Records → OpenSearch (or Elasticsearch) through the client's bulk helpers, losing nothing.

- Every document's `_id` is its own id, so sending it twice overwrites it: a resumed or retried
  run cannot create duplicates.
- Records are read, encoded and sent one chunk at a time (bounded memory). After a chunk is
  acknowledged, its position in the input goes to a state file; `resume` skips what is done.
- One backoff policy (the kit's, `nail_os._retry`) covers what the cluster pushes back: 429 on single items
  (full write queue, flood-stage block), 429/502/503/504 on the whole request, timeouts and dropped
  connections. The helper's own 429 loop is not used, so that each retry is counted and logged the same way.
- A document the cluster or our checks refuse goes to the rejects file with file, line, id and
  reason; the run goes on unless `strict`.
- With `overlap` (the default), one background thread sends chunk i while the main thread reads,
  checks and encodes chunk i+1 (a queue of one chunk). The single sender acknowledges chunks in input
  order, so the state file still marks a prefix of the input and a resume stays exact.
- `streaming_ingest` yields one `IngestResult` per document (as opensearch-py's `streaming_bulk` yields one
  result per action): its id, whether it is indexed, the reason if not, and the NAIL features sent, so a
  caller (the evaluation) never re-reads the input or rebuilds features. `ingest` consumes it and returns
  the run's `IngestReport`.

Over 400 lines because the run's parts share its state (the rejects file, the report, the sender thread) and
read best together; `_Rejects` and `_Sender` are the pieces that stand alone.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from nail_os._retry import RETRYABLE_STATUS, Backoff, is_transient  # RETRYABLE_STATUS: re-exported
from nail_os.cache import cache_dir
from nail_os.corpus import Record
from nail_os.documents import DocumentError, check_record, document_json, nail_features, to_document
from nail_os.encoders import SparseEncoder
from nail_os.engines import Client, engine_of
from nail_os.errors import NailOSError
from nail_os.mapping import DEFAULT_NAIL_FIELD, check_nail_field, ensure_tokens_field
from nail_os.statistics import document_tokens, tokens_field
from nail_os.tokens import Tokenizer

log = logging.getLogger(__name__)



class IngestError(NailOSError, RuntimeError):
    """The run stopped: retries exhausted, or a rejected document under `strict`. State is saved."""


@dataclass
class IngestOptions:
    """How to ingest; the CLI's `ingest` options map onto these fields."""

    index: str
    nail_field: str = DEFAULT_NAIL_FIELD
    chunk_size: int = 500
    encode_batch_size: int = 32
    update: bool = False
    top_k: int | None = None
    max_ratio: float | None = None
    strict: bool = False
    resume: bool = True
    rejects_path: Path | None = None
    state_path: Path | None = None
    max_retries: int = 8
    initial_backoff: float = 1.0
    max_backoff: float = 60.0
    request_timeout: float = 120.0
    refresh: bool = True
    # Send chunk i on a background thread while chunk i+1 is prepared (checked, encoded, turned into actions).
    overlap: bool = True


@dataclass(frozen=True)
class IngestResult:
    """What became of one document: indexed (`ok`), or refused with the reason (by our checks or the cluster).

    `features` are the NAIL features sent for it ({feature name: weight}, after validation and pruning), None
    for a refused or BM25-only document. `where` names the input file and line.
    """

    doc_id: str | None
    ok: bool
    error: str | None = None
    features: dict[str, float] | None = None
    where: str = ""


@dataclass
class IngestReport:
    """What a run did. `rejected > 0` makes the CLI exit 3."""

    indexed: int = 0
    rejected: int = 0
    skipped: int = 0  # records already done by an earlier run (resume)
    retries: int = 0
    # Documents longer than the encoder reads (all its windows, `read_limit` tokens): only their start was encoded.
    truncated: int = 0
    seconds: float = 0.0
    rejects_path: Path | None = None
    reasons: dict[str, int] = field(default_factory=dict)

    @property
    def docs_per_second(self) -> float:
        return self.indexed / self.seconds if self.seconds else 0.0


def default_state_path(source: str, index: str, update: bool) -> Path:
    """Where a run's progress is kept: the user's cache dir, keyed by input, index and mode."""
    key = hashlib.sha1(f"{os.path.abspath(source)}\0{index}\0{update}".encode()).hexdigest()[:16]
    return cache_dir("ingest") / f"{index}-{key}.json"


class _Rejects:
    """The rejects file, opened on the first reject: one JSON line per refused document."""

    def __init__(self, path: Path | None, append: bool) -> None:
        self.path, self.append, self.handle = path, append, None
        # Both the main thread (checks) and the sender (the cluster's refusals) write here.
        self.lock = threading.Lock()

    def write(self, record: Record, reason: str) -> None:
        if self.path is None:
            return
        entry = {
            "source": record.source,
            "line": record.line,
            "id": record.doc_id,
            "reason": reason,
            "record": record.raw,
        }
        line = json.dumps(entry, ensure_ascii=False) + "\n"
        with self.lock:
            if self.handle is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self.handle = open(self.path, "a" if self.append else "w", encoding="utf-8")
            self.handle.write(line)

    def flush(self) -> None:
        with self.lock:
            if self.handle:
                self.handle.flush()
                os.fsync(self.handle.fileno())

    def close(self) -> None:
        with self.lock:
            if self.handle:
                self.handle.close()


DUPLICATE_ID = "duplicate document id: an earlier record of this input has the same id (the first is kept)"


def id_key(doc_id: str) -> bytes:
    """The 8-byte hash a run remembers an id by, to catch duplicates in bounded memory (8 bytes a document)."""
    return hashlib.blake2b(doc_id.encode("utf-8"), digest_size=8).digest()


def input_problem(record: Record, options: IngestOptions, *, has_encoder: bool) -> str | None:
    """Why `record` cannot be indexed, from the record alone (None: it can); the duplicate check comes after,
    and only a record that passes this one makes its id taken."""
    needs_text = record.features is None and (has_encoder or options.update)
    try:
        check_record(record, needs_text=needs_text)
    except DocumentError as exc:
        return str(exc)
    if record.features is None and options.update and not has_encoder:
        return "--update needs features: give --model to encode the text, or pre-encoded records"
    return None


class Ingester:
    """One ingest run. Use `ingest()` or `streaming_ingest()`; this class keeps the run's state together, and its
    `report` is complete once `stream()` is exhausted."""

    def __init__(
        self,
        client: Client,
        options: IngestOptions,
        *,
        encoder: SparseEncoder | None = None,
        tokenizer: Tokenizer | None = None,
        seen_ids: Iterable[bytes] = (),
    ) -> None:
        """`seen_ids`: `id_key`s that earlier parts of the same input put in, when this run is one part of it
        (an `ingest --ray` block): a record with one of those ids is a duplicate, as it is in one whole run."""
        self.client, self.options, self.encoder = client, options, encoder
        # The bulk helper and the exceptions are the client's own (opensearch-py or elasticsearch-py).
        self.engine = engine_of(client)
        self.tokenizer = tokenizer or (encoder.tokenizer if encoder else None)
        self.report = IngestReport(rejects_path=options.rejects_path)
        self.seen_ids: set[bytes] = set(seen_ids)
        self._report_lock = threading.Lock()  # rejects are counted on both threads
        # Per-document results, appended on both threads (deque appends are atomic) and yielded by `stream`.
        self._results: deque[IngestResult] = deque()

    def run(self, records: Iterable[Record], *, total: int | None = None, show_progress: bool = True) -> IngestReport:
        """Ingest `records`; the run's report."""
        for _ in self.stream(records, total=total, show_progress=show_progress):
            pass
        return self.report

    def _drain(self) -> Iterator[IngestResult]:
        while self._results:
            yield self._results.popleft()

    def stream(self, records: Iterable[Record], *, total: int | None = None, show_progress: bool = True
               ) -> Iterator[IngestResult]:
        """Ingest `records`, yielding each document's result once its chunk is acknowledged (or it is refused)."""
        opts = self.options
        check_nail_field(self.client, opts.index, opts.nail_field)
        if self.tokenizer is not None and ensure_tokens_field(self.client, opts.index, opts.nail_field):
            log.info("index %r: added %s, the token statistics that weigh queries", opts.index,
                     tokens_field(opts.nail_field))
        state = self._load_state() if opts.resume else {}
        done = int(state.get("position", 0))
        rejects = _Rejects(opts.rejects_path, append=done > 0)
        started = time.monotonic()
        from tqdm.auto import tqdm

        bar = tqdm(total=total, initial=done, unit="doc", disable=not show_progress or None, desc=opts.index)
        stream = iter(records)
        # Skipped records still pass through the duplicate check, so a resumed run catches the same dups.
        for record in islice(stream, done):
            self._is_duplicate(record)
        self.report.skipped = done
        position = done

        def deliver(prepared: _Prepared, position: int, size: int) -> None:
            """Send one prepared chunk; once it is acknowledged, record the input position it completes."""
            self._deliver(prepared, rejects)
            rejects.flush()
            self._save_state({"position": position, "index": opts.index})
            bar.update(size)
            bar.set_postfix(docs_s=f"{self.report.indexed / max(time.monotonic() - started, 1e-9):.0f}")

        sender = _Sender(deliver) if opts.overlap else None
        try:
            for chunk in _chunks(stream, opts.chunk_size):
                prepared = self._prepare(chunk, rejects)
                position += len(chunk)
                if sender is None:
                    deliver(prepared, position, len(chunk))
                else:
                    sender.put(prepared, position, len(chunk))
                yield from self._drain()
            if sender is not None:
                sender.finish()
            yield from self._drain()
        except BaseException as exc:
            if sender is not None:
                # The chunks already handed over are still sent (an Exception here is the main thread's own, say
                # a --strict reject); on Ctrl-C only the request in flight is finished. Either way the state
                # file keeps marking what was acknowledged.
                sender.stop(drain=isinstance(exc, Exception))
            raise
        finally:
            bar.close()
            rejects.close()
            self.report.seconds = time.monotonic() - started
        if opts.refresh:
            self.client.indices.refresh(index=opts.index)
        self._clear_state()
        return self.report

    # -- one chunk: check, encode, build actions (main thread); send (the sender) -----------------
    def _prepare(self, chunk: list[Record], rejects: _Rejects) -> _Prepared:
        good: list[Record] = []
        for record in chunk:
            reason = self._check(record)
            if reason:
                self._reject(record, reason, rejects)
            else:
                good.append(record)
        weights = self._weights(good)
        tokens = self._tokens(good)
        actions: dict[str, dict[str, Any]] = {}
        by_id: dict[str, Record] = {}
        features: dict[str, dict[str, float] | None] = {}
        for record, w, t in zip(good, weights, tokens, strict=True):
            try:
                action, features[record.doc_id] = self._action(record, w, t)  # type: ignore[index]
            except DocumentError as exc:
                self._reject(record, str(exc), rejects)
                continue
            actions[record.doc_id] = action  # type: ignore[index]
            by_id[record.doc_id] = record  # type: ignore[index]
        return _Prepared(list(actions.values()), by_id, features)

    def _deliver(self, prepared: _Prepared, rejects: _Rejects) -> None:
        refused = dict(self._send(prepared.actions))
        for doc_id, record in prepared.by_id.items():
            if doc_id in refused:
                self._reject(record, refused[doc_id], rejects)
            else:
                self._results.append(IngestResult(doc_id, True, features=prepared.features[doc_id],
                                                  where=record.where))
        with self._report_lock:
            self.report.indexed += len(prepared.actions) - len(refused)

    def _check(self, record: Record) -> str | None:
        reason = input_problem(record, self.options, has_encoder=self.encoder is not None)
        if reason is None and self._is_duplicate(record):
            return DUPLICATE_ID
        return reason

    def _is_duplicate(self, record: Record) -> bool:
        if record.doc_id is None:
            return False
        key = id_key(record.doc_id)
        if key in self.seen_ids:
            return True
        self.seen_ids.add(key)
        return False

    def _weights(self, records: list[Record]) -> list[dict[str, float] | None]:
        """Each record's token weights: its own features, else the encoder's, else None (BM25 only)."""
        weights: list[dict[str, float] | None] = [r.features for r in records]
        todo = [i for i, r in enumerate(records) if r.features is None]
        if todo and self.encoder is not None:
            encoded = self.encoder.encode_documents(
                [records[i].full_text for i in todo], batch_size=self.options.encode_batch_size
            )
            for i, w in zip(todo, encoded, strict=True):
                weights[i] = w
            self._count_truncated([records[i] for i in todo])
        return weights

    def _tokens(self, records: list[Record]) -> list[list[str] | None]:
        """Each record's distinct token ids (the index's token statistics), None for a record without text."""
        if self.tokenizer is None:
            return [None] * len(records)
        texts = [i for i, r in enumerate(records) if r.full_text]
        found = document_tokens(self.tokenizer, [records[i].full_text for i in texts])
        tokens: list[list[str] | None] = [None] * len(records)
        for i, ids in zip(texts, found, strict=True):
            tokens[i] = ids
        return tokens

    def _count_truncated(self, records: list[Record]) -> None:
        """Count (and log at INFO) the texts the encoder cut at its `read_limit` (all its windows), so a cut is
        never silent."""
        max_length = getattr(self.encoder, "read_limit", None) or getattr(self.encoder, "max_length", None)
        if not max_length or self.tokenizer is None:
            return
        # The encoder adds [CLS] and [SEP] to each text; the query tokenizer does not truncate.
        encodings = self.tokenizer.hf.encode_batch([r.full_text for r in records], add_special_tokens=False)
        for record, encoding in zip(records, encodings, strict=True):
            if len(encoding.ids) + 2 > max_length:
                self.report.truncated += 1
                log.info(
                    "%s truncated: %d tokens, the encoder reads the first %d",
                    record.where,
                    len(encoding.ids) + 2,
                    max_length,
                )

    def _action(self, record: Record, weights: dict[str, float] | None, tokens: list[str] | None
                ) -> tuple[dict[str, Any], dict[str, float] | None]:
        """The bulk action for `record`, and the NAIL features it carries (None: BM25 fields only)."""
        opts = self.options
        if opts.update:
            features = nail_features(weights or {}, self.tokenizer, top_k=opts.top_k, max_ratio=opts.max_ratio)
            doc: dict[str, Any] = {opts.nail_field: features}
            if tokens:
                doc[tokens_field(opts.nail_field)] = tokens
            return {"_op_type": "update", "_index": opts.index, "_id": record.doc_id, "doc": doc}, features
        doc = to_document(
            record, weights, self.tokenizer, nail_field=opts.nail_field, top_k=opts.top_k, max_ratio=opts.max_ratio,
            tokens=tokens,
        )
        action = {"_op_type": "index", "_index": opts.index, "_id": record.doc_id, "_source": document_json(doc)}
        return action, doc.get(opts.nail_field)

    def _reject(self, record: Record, reason: str, rejects: _Rejects) -> None:
        kind = reason.split(":")[0][:60]
        with self._report_lock:
            self.report.rejected += 1
            self.report.reasons[kind] = self.report.reasons.get(kind, 0) + 1
        log.warning("%s rejected: %s", record.where, reason)
        rejects.write(record, reason)
        self._results.append(IngestResult(record.doc_id, False, error=reason, where=record.where))
        if self.options.strict:
            rejects.flush()
            raise IngestError(f"{record.where} {reason} (--strict stops at the first rejected document)")

    def _send(self, actions: list[dict[str, Any]]) -> list[tuple[str, str]]:
        """Send actions until each is acknowledged or refused for good; returns (id, reason) refusals."""
        opts = self.options
        pending = actions
        refused: list[tuple[str, str]] = []
        last_error = ""
        policy = Backoff(retries=opts.max_retries, initial=opts.initial_backoff, maximum=opts.max_backoff)
        for attempt in range(opts.max_retries + 1):
            if attempt:
                delay = policy.delay(attempt)
                self.report.retries += 1
                log.warning(
                    "retry %d/%d of %d documents in %.1fs: %s",
                    attempt,
                    opts.max_retries,
                    len(pending),
                    delay,
                    last_error,
                )
                time.sleep(delay)
            by_id = {a["_id"]: a for a in pending}
            retry: list[dict[str, Any]] = []
            try:
                for _ok, item in self.engine.streaming_bulk(self.client, pending, request_timeout=opts.request_timeout):
                    _op, info = item.popitem()
                    status, reason = info.get("status", 0), _reason(info.get("error"))
                    if status in RETRYABLE_STATUS:
                        retry.append(by_id[info["_id"]])
                        last_error = f"HTTP {status}: {reason}"
                    else:
                        refused.append((info["_id"], f"refused by the cluster (HTTP {status}): {reason}"))
            except self.engine.errors() as exc:
                if not is_transient(self.engine, exc):
                    raise IngestError(f"bulk request to index {opts.index!r} failed: {exc}") from exc
                retry = pending
                last_error = f"{type(exc).__name__}: {exc}"[:300]
            if not retry:
                return refused
            pending = retry
        hint = ""
        if "cluster_block_exception" in last_error:
            hint = (
                f" The index is blocked (a disk past the flood-stage watermark sets "
                f"index.blocks.read_only_allow_delete): free disk space or lift the block with "
                f'PUT /{opts.index}/_settings {{"index.blocks.read_only_allow_delete": null}}.'
            )
        raise IngestError(
            f"gave up on {len(pending)} documents of index {opts.index!r} after {opts.max_retries} retries; "
            f"last error: {last_error}.{hint} Progress is saved: run the same command again to resume."
        )

    # -- state -----------------------------------------------------------------------------------
    def _load_state(self) -> dict[str, Any]:
        path = self.options.state_path
        if path is None or not path.is_file():
            return {}
        state = json.loads(path.read_text(encoding="utf-8"))
        if state.get("position"):
            log.warning("resuming index %r after %d records (state: %s)", self.options.index, state["position"], path)
        return state

    def _save_state(self, state: dict[str, Any]) -> None:
        path = self.options.state_path
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state), encoding="utf-8")
        os.replace(tmp, path)  # atomic: a crash leaves the old or the new state, never half of one

    def _clear_state(self) -> None:
        path = self.options.state_path
        if path is not None and path.is_file():
            path.unlink()


@dataclass
class _Prepared:
    """One chunk ready to send: its bulk actions, and the records they came from and the features they carry, by id."""

    actions: list[dict[str, Any]]
    by_id: dict[str, Record]
    features: dict[str, dict[str, float] | None]


class _Sender:
    """The one thread that sends prepared chunks, in the order they were put, one chunk queued at most.

    An exception on the sender is kept and re-raised on the main thread at its next `put` and at `finish`;
    after it, queued chunks are dropped unsent (their positions never reach the state file).
    """

    def __init__(self, deliver: Callable[[_Prepared, int, int], None]) -> None:
        self.deliver = deliver
        self.queue: queue.Queue[tuple[_Prepared, int, int] | None] = queue.Queue(maxsize=1)
        self.error: BaseException | None = None
        self.abort = False
        self.thread = threading.Thread(target=self._loop, name="nail-os-bulk", daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while (item := self.queue.get()) is not None:
            if self.error is not None or self.abort:
                continue  # keep draining, so that a put on the main thread never blocks
            try:
                self.deliver(*item)
            except BaseException as exc:  # noqa: BLE001 - handed to the main thread
                self.error = exc

    def _raise(self) -> None:
        if self.error is not None:
            raise self.error

    def put(self, prepared: _Prepared, position: int, size: int) -> None:
        self._raise()
        self.queue.put((prepared, position, size))
        self._raise()

    def finish(self) -> None:
        """Wait until every chunk put is sent; re-raise the sender's exception if there was one."""
        self.queue.put(None)
        self.thread.join()
        self._raise()

    def stop(self, *, drain: bool) -> None:
        """The main thread is failing: send what is queued (`drain`) or only finish the request in flight."""
        self.abort = not drain
        if self.thread.is_alive():
            self.queue.put(None)
            self.thread.join()


def _reason(error: Any) -> str:
    if isinstance(error, dict):
        text = f"{error.get('type', 'error')}: {error.get('reason', '')}"
        cause = error.get("caused_by")
        if isinstance(cause, dict):
            text += f" (caused by {cause.get('type')}: {cause.get('reason')})"
        return text
    return str(error)


def _chunks(records: Iterator[Record], size: int) -> Iterator[list[Record]]:
    while chunk := list(islice(records, size)):
        yield chunk


def ingest(
    client: Client,
    records: Iterable[Record],
    options: IngestOptions,
    *,
    encoder: SparseEncoder | None = None,
    tokenizer: Tokenizer | None = None,
    total: int | None = None,
    show_progress: bool = True,
) -> IngestReport:
    """Ingest `records` into `options.index` (which must exist with the NAIL field).

    Raw-text records are encoded with `encoder`; pre-encoded records (`features`) need only the
    tokenizer; with neither, documents get BM25 fields only. Returns the run's report; `streaming_ingest`
    hands back each document's result instead.
    """
    return Ingester(client, options, encoder=encoder, tokenizer=tokenizer).run(
        records, total=total, show_progress=show_progress
    )


def streaming_ingest(
    client: Client,
    records: Iterable[Record],
    options: IngestOptions,
    *,
    encoder: SparseEncoder | None = None,
    tokenizer: Tokenizer | None = None,
    total: int | None = None,
    show_progress: bool = True,
) -> Generator[IngestResult, None, IngestReport]:
    """`ingest()`, yielding one `IngestResult` per document (in input order within a chunk, refusals by our checks
    first) as each chunk is acknowledged. The run's `IngestReport` is the generator's return value (what
    `yield from` gives); to keep both at hand, use `Ingester(...).stream(...)` and read `.report` afterwards.

    >>> indexed = {r.doc_id: r.features for r in streaming_ingest(client, records, options) if r.ok}  # doctest: +SKIP
    """
    ingester = Ingester(client, options, encoder=encoder, tokenizer=tokenizer)
    yield from ingester.stream(records, total=total, show_progress=show_progress)
    return ingester.report


class LazyEncoder:
    """Loads the (torch) encoder on the first text to encode: pre-encoded input never needs torch."""

    def __init__(self, model: str | None, tokenizer: Tokenizer, device: str | None = None) -> None:
        self.model, self.tokenizer, self.device = model, tokenizer, device
        self._encoder: SparseEncoder | None = None

    def encode_documents(
        self, texts: list[str], *, batch_size: int = 32, show_progress: bool = False
    ) -> list[dict[str, float]]:
        if self._encoder is None:
            from nail_os.encoders import load_encoder
            from nail_os.registry import resolve_model_dir

            self._encoder = load_encoder(resolve_model_dir(self.model), device=self.device)
        return self._encoder.encode_documents(texts, batch_size=batch_size, show_progress=show_progress)

    @property
    def read_limit(self) -> int | None:
        """Tokens the encoder reads of one document, over all its windows."""
        return getattr(self._encoder, "read_limit", None)

    @property
    def max_length(self) -> int | None:
        """Tokens the loaded encoder reads per document (None before the first text is encoded)."""
        return getattr(self._encoder, "max_length", None)


def ingest_source(
    client: Client,
    source: str,
    options: IngestOptions,
    *,
    model: str | None = None,
    encode: bool = True,
    create: bool = True,
    shards: int = 1,
    replicas: int = 0,
    device: str | None = None,
    show_progress: bool = True,
) -> IngestReport:
    """`nail-os ingest` as a function: read `source`, create the index if needed, encode, ingest.

    `source` is a BEIR folder, a JSONL file (raw text or pre-encoded `{id, features}`), or an
    ir_datasets id. `model` names the encoder and tokenizer (default: `registry.default_model()`);
    with `encode=False` raw-text documents get BM25 fields only.
    """
    from nail_os.corpus import count_lines, read_corpus
    from nail_os.mapping import create_index
    from nail_os.registry import resolve_model_dir

    tokenizer = Tokenizer.from_model_dir(resolve_model_dir(model))
    if create and not options.update:
        create_index(client, options.index, nail_field=options.nail_field, shards=shards, replicas=replicas)
    if options.state_path is None:
        options.state_path = default_state_path(source, options.index, options.update)
    encoder = LazyEncoder(model, tokenizer, device) if encode else None
    return ingest(
        client,
        read_corpus(source),
        options,
        encoder=encoder,
        tokenizer=tokenizer,
        total=count_lines(source),
        show_progress=show_progress,
    )
