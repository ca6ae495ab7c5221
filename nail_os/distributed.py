"""Encoding and ingest spread over a Ray cluster with Ray Data: `nail-os encode --ray`, `nail-os ingest --ray`.

The corpus file is cut into blocks of `block_size` lines (byte ranges found by one scan for newlines on the
driver; for a Parquet file, whole row groups found in its footer), and each block flows through two Ray Data
stages:

    block (path, byte range, first line) →read + tokenize, CPU tasks→ records + token ids
                                          →encode, one actor per GPU (or CPU actors)→ features JSONL part | bulk

A block is the unit of exactly-once: its part file is written whole (tmp file + rename), or its documents are
indexed through `nail_os.ingest.ingest` (ids as `_id`, so a block sent twice overwrites itself). The driver
appends the block's number to `manifest.jsonl` once its result is back; a resumed run skips those blocks and
redoes the others whole. A task that dies (a worker or a node lost) is retried by Ray Data.

Lines are parsed by `nail_os.corpus.parse_line` and documents checked, encoded and sent by the same code as
the single-process commands, so the features, the index and the rejects file's lines are the same. Duplicate
ids across blocks: `ingest` first runs a light pass (CPU tasks: parse and check, no model) that gives each
block the ids an earlier block took, so its later copies are rejected as `nail-os ingest` rejects them; the
driver keeps one 8-byte key per document for it, as `nail-os ingest` does. `encode` drops later copies when it
joins the parts.

Ray is an optional dependency (`pip install 'nail-os[ray]'`), imported only when a run starts; the corpus
file must be readable at the same path on every node (a shared file system).

Over 400 lines because the plan, the stages and the driver share the `Block` and the manifest's format, and
read best in the order a run takes them; the reading, encoding and sending they call live in their own modules.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import shutil
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from nail_os.corpus import CorpusError, Record, beir_file, parquet_row_groups, parse_line, read_parquet
from nail_os.encoders import MissingExtraError
from nail_os.errors import NailOSError

# Lines per block (the unit of a resume and of a retry) when not given: encode_corpus's chunk (BATCHES_PER_CHUNK
# batches) for `encode`, the bulk chunk for `ingest`. Blocks then batch the documents as the single-process
# commands do, and the weights are the same to the last bit (other batches move a few by one rounding unit,
# 1e-4, as another --batch-size does: padding changes the float sums).
MANIFEST = "manifest.jsonl"
PLAN = "plan.json"


@dataclass(frozen=True)
class Block:
    """Lines `first_line`.. of a corpus file: the bytes `start`..`end` of `path`; `source` names it in messages."""

    number: int
    path: str
    source: str
    start: int
    end: int
    first_line: int
    lines: int


@dataclass
class RayReport:
    """What a Ray run did, summed over its blocks (those done by an earlier run are `blocks_skipped`)."""

    blocks: int = 0
    blocks_skipped: int = 0
    skipped: int = 0  # corpus lines in those blocks
    written: int = 0  # encode: documents written; ingest: documents indexed
    rejected: int = 0
    duplicates: int = 0
    empty: int = 0
    retries: int = 0
    truncated: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)
    reasons: dict[str, int] = field(default_factory=dict)
    output: Path | None = None  # the features JSONL, or the rejects file of an ingest

    @property
    def docs_per_second(self) -> float:
        return self.written / self.seconds if self.seconds else 0.0

    @property
    def indexed(self) -> int:
        """`IngestReport`'s name for `written`."""
        return self.written

    @property
    def rejects_path(self) -> Path | None:
        return self.output


class RayDeviceError(NailOSError, RuntimeError):
    """The run asks for GPUs the Ray cluster does not have."""


def import_ray() -> Any:
    try:
        import ray
        import ray.data  # noqa: F401 - the extra, not only the core
    except ImportError as exc:
        raise MissingExtraError(f"--ray needs Ray Data: pip install 'nail-os[ray]' ({exc})") from exc
    return ray


# -- the plan: blocks of a corpus file ------------------------------------------------------------------------
def corpus_file(spec: str | Path) -> Path:
    """The JSONL or Parquet file a corpus spec names (a BEIR folder's corpus.jsonl), as `read_corpus` resolves it."""
    path = Path(spec)
    if path.is_dir():
        path = beir_file(path, "corpus.jsonl")
    if not path.is_file():
        raise CorpusError(f"{spec}: --ray reads a JSONL or Parquet file or a BEIR folder (not an ir_datasets id)")
    if path.suffix == ".gz":
        raise CorpusError(f"{path}: --ray cuts the file into byte ranges, which gzip cannot seek: gunzip it first")
    return path


def plan_blocks(spec: str | Path, block_size: int) -> list[Block]:
    """The blocks of `block_size` lines (blank ones included, as line numbers count them) of a corpus file; of a
    Parquet file, runs of whole row groups of at least `block_size` rows (`start`..`end` are then row numbers)."""
    if block_size < 1:
        raise ValueError(f"block_size is {block_size}; it must be >= 1")
    path = corpus_file(spec)
    source, absolute = str(path), str(path.resolve())
    blocks: list[Block] = []
    if path.suffix == ".parquet":
        # Whole row groups: a block that cut one would decode all of it for its part (Parquet reads a row group
        # at a time). Not Ray Data's read_parquet: a block must be the same rows in a resumed run (the manifest
        # names blocks by number), and its records must carry their row numbers for the rejects file.
        start = end = 0
        for rows in parquet_row_groups(path):
            end += rows
            if end - start >= block_size:
                blocks.append(Block(len(blocks), absolute, source, start, end, start + 1, end - start))
                start = end
        if end > start:
            blocks.append(Block(len(blocks), absolute, source, start, end, start + 1, end - start))
        return blocks
    start, line, lines_in_block, offset = 0, 1, 0, 0
    with open(path, "rb") as f:
        for raw in f:
            offset += len(raw)
            lines_in_block += 1
            if lines_in_block == block_size:
                blocks.append(Block(len(blocks), absolute, source, start, offset, line, block_size))
                start, line, lines_in_block = offset, line + block_size, 0
    if offset > start:
        blocks.append(Block(len(blocks), absolute, source, start, offset, line, lines_in_block))
    return blocks


def read_block(block: Block) -> Iterator[Record]:
    """The block's records, exactly as `nail_os.corpus.read_jsonl` (or `read_parquet`) reads those lines."""
    if block.path.endswith(".parquet"):
        yield from read_parquet(Path(block.path), block.start, block.end, block.source)
        return
    with open(block.path, "rb") as f:
        f.seek(block.start)
        data = f.read(block.end - block.start)
    for number, raw in enumerate(io.BytesIO(data), start=block.first_line):
        if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        if raw.strip():
            yield parse_line(raw, block.source, number)


# -- the two stages, as Ray Data runs them -------------------------------------------------------------------
def _scalar(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value  # numpy scalars -> int, str


def _block_of(batch: dict[str, Any]) -> Block:
    return Block(**{name: _scalar(batch[name][0]) for name in Block.__dataclass_fields__})


def _taken_ids(batch: dict[str, Any], options: Any) -> dict[str, Any]:
    """The duplicate pass (a CPU task, `ingest` only): the `id_key`s of the block's records that would take their
    id in `nail-os ingest` (those that pass `input_problem`), concatenated in input order."""
    from nail_os.ingest import id_key, input_problem

    block = _block_of(batch)
    keys = [id_key(r.doc_id) for r in read_block(block)
            if r.doc_id is not None and input_problem(r, options, has_encoder=True) is None]
    # Hex: Ray Data may hand a bytes column back as a numpy "S" array, which drops trailing zero bytes.
    return {"number": [block.number], "keys": [b"".join(keys).hex()]}


def taken_earlier(keys_by_block: dict[int, bytes]) -> dict[int, bytes]:
    """For each block, the keys of its ids that a block before it took already (8 bytes each): in one whole run
    those records are duplicates. Only the blocks' own ids travel back, not every earlier id."""
    seen: set[bytes] = set()
    earlier: dict[int, bytes] = {}
    for number in sorted(keys_by_block):
        keys = {keys_by_block[number][i : i + 8] for i in range(0, len(keys_by_block[number]), 8)}
        earlier[number] = b"".join(sorted(keys & seen))
        seen |= keys
    return earlier


def _tokenize_block(batch: dict[str, Any], tokenizer_json: str, read_limit: int) -> dict[str, Any]:
    """Stage 1 (a CPU task): one block's records and the token ids of the texts the model is to read, in input
    order (the encoder sorts by length stably, so this order makes its batches)."""
    from nail_os.model.nail import document_tokenizer

    block = _block_of(batch)
    records = list(read_block(block))
    seen: set[str] = set()
    todo: list[str] = []
    for r in records:
        if not r.error and r.doc_id not in seen and r.features is None and r.full_text:
            todo.append(r.full_text)
        seen.add(r.doc_id or "")
    ids = [e.ids for e in document_tokenizer(tokenizer_json, read_limit).encode_batch(todo)] if todo else []
    # One pickled cell: Ray Data would turn Python lists into (ragged) numpy arrays and Records into dicts.
    payload = (records, todo, ids, bytes.fromhex(str(batch["taken"][0])))
    return {"number": [block.number], "payload": [pickle.dumps(payload)]}


class _Cached:
    """A SparseEncoder whose texts were encoded already; one it has not seen goes to the model."""

    def __init__(self, encoder: Any, known: dict[str, dict[str, float]]) -> None:
        self.encoder, self.known, self.tokenizer = encoder, known, encoder.tokenizer
        self.read_limit = encoder.read_limit

    def encode_documents(self, texts: list[str], *, batch_size: int = 32, show_progress: bool = False) -> list:
        missing = [t for t in dict.fromkeys(texts) if t not in self.known]
        if missing:
            self.known.update(zip(missing, self.encoder.encode_documents(missing, batch_size=batch_size), strict=True))
        return [self.known[t] for t in texts]


class _BlockWorker:
    """Stage 2 (one actor per GPU, or a CPU actor): encodes a block, then writes its part file or indexes it."""

    def __init__(self, model: str, encoder_options: dict[str, Any], job: dict[str, Any]) -> None:
        from nail_os.model import load_model
        from nail_os.registry import resolve_model_dir

        self.encoder = load_model(resolve_model_dir(model), **encoder_options)
        self.job = job
        self.client = None
        if job["mode"] == "ingest":
            from nail_os.connection import make_client

            self.client = make_client(job["cluster"])

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        number = int(batch["number"][0])
        records, texts, ids, taken = pickle.loads(batch["payload"][0])
        features = self.encoder.encode_token_ids(ids, batch_size=self.job["batch_size"])
        known = dict(zip(texts, features, strict=True))
        done = self._write(number, records, known) if self.job["mode"] == "encode" else \
            self._ingest(number, records, known, taken)
        return {"number": [number], "result": [json.dumps(done)]}

    def _write(self, number: int, records: list[Record], known: dict[str, dict[str, float]]) -> dict[str, Any]:
        """The block's part file, as `encode_corpus` would write those records (ids unique within the block)."""
        result: dict[str, Any] = {"written": 0, "duplicates": 0, "empty": 0, "errors": []}
        seen: set[str] = set()
        lines: list[str] = []
        for record in records:
            if record.error or record.doc_id is None:
                result["errors"].append(f"{record.where} {record.error}")
            elif record.doc_id in seen:
                result["duplicates"] += 1
            elif not record.full_text:
                result["empty"] += 1
            else:
                seen.add(record.doc_id)
                features = known[record.full_text]
                lines.append(json.dumps({"id": record.doc_id, "features": features}, ensure_ascii=False) + "\n")
        result["written"] = len(lines)
        _write_atomic(Path(self.job["parts"]) / f"part-{number:06d}.jsonl", "".join(lines))
        return result

    def _ingest(self, number: int, records: list[Record], known: dict[str, dict[str, float]], taken: bytes
                ) -> dict[str, Any]:
        """The block through `nail_os.ingest.Ingester`: the same checks, bulk retries and rejects lines; the ids
        earlier blocks took (`taken`, see `taken_earlier`) count as seen."""
        from dataclasses import replace

        from nail_os.ingest import Ingester

        options = replace(self.job["options"], resume=False, state_path=None, refresh=False,
                          rejects_path=Path(self.job["rejects"]) / f"{number:06d}.jsonl")
        options.rejects_path.unlink(missing_ok=True)  # a redone block rewrites its rejects
        seen = (taken[i : i + 8] for i in range(0, len(taken), 8))
        report = Ingester(self.client, options, encoder=_Cached(self.encoder, known),
                          tokenizer=self.encoder.tokenizer, seen_ids=seen).run(records, show_progress=False)
        return {"written": report.indexed, "rejected": report.rejected, "retries": report.retries,
                "truncated": report.truncated, "reasons": report.reasons}


def _write_atomic(path: Path, text: str) -> None:
    """Write `path` whole or not at all: a killed worker leaves no half part file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


# -- the driver --------------------------------------------------------------------------------------------------
@dataclass
class RayOptions:
    """Where and how wide a run goes. `address`: an existing Ray cluster ("auto", "ray://head:10001"); None
    starts Ray on this machine. `actors`: encoder actors, default one per GPU of the cluster, else one on CPU."""

    address: str | None = None
    actors: int | None = None
    block_size: int | None = None  # None: the single-process command's chunk (see BATCHES_PER_CHUNK)
    # "cpu" forces CPU actors; "cuda" (or "cuda:N": each actor has its own GPU) needs GPUs, and a cluster without
    # any is an error, not a quiet fall back to CPU; None: GPU actors where the cluster has GPUs.
    device: str | None = None
    init_kwargs: dict[str, Any] = field(default_factory=dict)  # more ray.init arguments (num_cpus, ...)


def encode_corpus_ray(model: str, corpus: str | Path, output: str | Path, *, ray_options: RayOptions | None = None,
                      batch_size: int = 32, resume: bool = True, show_progress: bool = True,
                      **encoder_options: Any) -> RayReport:
    """`encode_corpus` on Ray: `output` gets the same `{"id", "features"}` lines in corpus order (Parquet rows
    when its name ends in `.parquet`).

    Parts are written to `<output>.parts/` block by block; when every block is done they are joined into
    `output` and the folder is removed. A killed run resumes from the finished blocks (`resume`).
    `encoder_options` go to `load_model` (top_k, precision, top_k_per_token).

    >>> encode_corpus_ray("splade-tiny", "scifact/", "scifact.features.jsonl").written  # doctest: +SKIP
    5183
    """
    output = Path(output)
    parts = Path(f"{output}.parts")
    from nail_os.model.encode import BATCHES_PER_CHUNK

    ray_options = ray_options or RayOptions()
    block_size = ray_options.block_size or batch_size * BATCHES_PER_CHUNK
    plan = {"mode": "encode", "model": str(model), "options": encoder_options}
    report = _run(model, corpus, parts, plan, {"mode": "encode", "parts": str(parts), "batch_size": batch_size},
                  ray_options, block_size, encoder_options, resume, show_progress)
    report.duplicates += _join_parts(sorted(parts.glob("part-*.jsonl")), output)
    shutil.rmtree(parts)
    report.output = output
    if report.errors:
        shown = "\n".join(report.errors[:20])
        more = f"\n... and {len(report.errors) - 20} more" if len(report.errors) > 20 else ""
        raise CorpusError(f"{corpus}: {len(report.errors)} unreadable lines were skipped "
                          f"({report.written} documents written to {output}):\n{shown}{more}")
    return report


class _ParquetOut:
    """`{"id", "features"}` lines written as Parquet rows: `id` (string), `features` (map string → float64, the
    JSON's doubles unchanged), which `nail_os.corpus.read_parquet` reads back as pre-encoded records."""

    ROWS_PER_GROUP = 10_000  # bounded memory while joining; a few MB of features per row group

    def __init__(self, path: Path) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.pa = pa
        self.schema = pa.schema([("id", pa.string()), ("features", pa.map_(pa.string(), pa.float64()))])
        self.writer = pq.ParquetWriter(path, self.schema)
        self.rows: list[dict[str, Any]] = []

    def write(self, line: bytes) -> None:
        entry = json.loads(line)
        self.rows.append({"id": entry["id"], "features": list(entry["features"].items())})
        if len(self.rows) >= self.ROWS_PER_GROUP:
            self.flush()

    def flush(self) -> None:
        if self.rows:
            self.writer.write_table(self.pa.Table.from_pylist(self.rows, schema=self.schema))
            self.rows = []

    def __enter__(self) -> _ParquetOut:
        return self

    def __exit__(self, *exc: object) -> None:
        self.flush()
        self.writer.close()


def _join_parts(parts: list[Path], output: Path) -> int:
    """Join the parts in corpus order into `output` (whole or not at all; Parquet for a `.parquet` name), keeping
    the first line of each id as `encode_corpus` does (a block knows only its own ids); returns how many later
    lines were dropped."""
    seen: set[bytes] = set()
    dropped = 0
    tmp = output.with_name(f".{output.name}.tmp")
    with _ParquetOut(tmp) if output.suffix == ".parquet" else open(tmp, "wb") as out:
        for part in parts:
            with open(part, "rb") as f:
                for line in f:
                    # Lines are '{"id": <JSON string>, "features": ...': the id's string ends at the first '", "f'
                    # (a quote inside it is escaped). Hashed, 8 bytes a document, as ingest keeps its seen ids.
                    doc_id = line[7 : line.index(b'", "features": ')]
                    key = hashlib.blake2b(doc_id, digest_size=8).digest()
                    if key in seen:
                        dropped += 1
                        continue
                    seen.add(key)
                    out.write(line)
    os.replace(tmp, output)
    return dropped


def ingest_corpus_ray(cluster: Any, corpus: str | Path, options: Any, *, model: str,
                      ray_options: RayOptions | None = None, state_dir: Path | None = None, create: bool = True,
                      shards: int = 1, replicas: int = 0, show_progress: bool = True,
                      **encoder_options: Any) -> RayReport:
    """`ingest_source` on Ray: the workers encode and send their blocks with `nail_os.ingest.ingest`.

    `cluster` is a `ClusterConfig` (each worker builds its own client), `options` an `IngestOptions`. Blocks'
    rejects are joined into `options.rejects_path` in corpus order at the end. Progress is kept in `state_dir`
    (default: beside `ingest`'s state file), removed when every block is done.
    """
    from nail_os.connection import make_client
    from nail_os.ingest import default_state_path
    from nail_os.mapping import create_index

    client = make_client(cluster)
    if create and not options.update:
        create_index(client, options.index, nail_field=options.nail_field, shards=shards, replicas=replicas)
    state = state_dir or default_state_path(str(corpus), options.index, options.update).with_suffix(".ray")
    rejects = state / "rejects"
    plan = {"mode": "ingest", "model": str(model), "index": options.index, "options": encoder_options}
    job = {"mode": "ingest", "cluster": cluster, "options": options, "rejects": str(rejects),
           "batch_size": options.encode_batch_size}
    ray_options = ray_options or RayOptions()
    report = _run(model, corpus, state, plan, job, ray_options, ray_options.block_size or options.chunk_size,
                  encoder_options, resume=options.resume, show_progress=show_progress,
                  before=lambda: rejects.mkdir(parents=True, exist_ok=True))
    if options.refresh:
        client.indices.refresh(index=options.index)
    if options.rejects_path is not None:
        found = sorted(rejects.glob("*.jsonl"))
        if report.rejected:
            with open(options.rejects_path, "wb") as out:
                for part in found:
                    with open(part, "rb") as f:
                        shutil.copyfileobj(f, out)
        report.output = options.rejects_path
    shutil.rmtree(state)
    return report


def _run(model: str, corpus: str | Path, state: Path, plan: dict[str, Any], job: dict[str, Any],
         ray_options: RayOptions, block_size: int, encoder_options: dict[str, Any], resume: bool,
         show_progress: bool, before: Any = None) -> RayReport:
    """Plan the blocks, skip the finished ones, run the rest through the two stages, keep the manifest."""
    from tqdm.auto import tqdm

    from nail_os.model import load_model
    from nail_os.registry import resolve_model_dir

    ray = import_ray()
    started = time.perf_counter()
    blocks = plan_blocks(corpus, block_size)
    path = corpus_file(corpus)
    plan = {**plan, "corpus": str(path.resolve()), "bytes": path.stat().st_size, "block_size": block_size}
    done = _load_manifest(state, plan) if resume else {}
    if not resume and state.exists():
        shutil.rmtree(state)
    state.mkdir(parents=True, exist_ok=True)
    (state / PLAN).write_text(json.dumps(plan, default=str), encoding="utf-8")
    if before is not None:
        before()
    report = RayReport(blocks=len(blocks), blocks_skipped=len(done),
                       skipped=sum(b.lines for b in blocks if b.number in done))
    for result in done.values():
        _add(report, result)
    todo = [b for b in blocks if b.number not in done]

    bar = tqdm(total=sum(b.lines for b in blocks), initial=sum(b.lines for b in blocks if b.number in done),
               unit="doc", desc="ray", disable=None if show_progress else True)
    if todo:
        owns_ray = not ray.is_initialized()
        if owns_ray:
            ray.init(address=ray_options.address, log_to_driver=False, **ray_options.init_kwargs)
        try:
            gpus = int(ray.cluster_resources().get("GPU", 0)) if ray_options.device != "cpu" else 0
            if not gpus and (ray_options.device or "").startswith("cuda"):
                raise RayDeviceError(
                    f"--device {ray_options.device}: the Ray cluster ({ray_options.address or 'started here'}) has "
                    f"no GPU; leave --device out (or give cpu) to encode on CPU actors, or add GPU workers")
            actors = ray_options.actors or max(gpus, 1)
            device = "cuda" if gpus else "cpu"
            options = {**encoder_options, "device": device}
            if device == "cpu":  # the node's cores shared by its actors (one process per core is Ray's default)
                from nail_os.model.encode import usable_cpus

                options["num_threads"] = max(1, usable_cpus() // actors)
            # The driver loads the model once on CPU, for the tokenizer and the read limit the CPU tasks use.
            probe = load_model(resolve_model_dir(model), device="cpu", **encoder_options)
            context = ray.data.DataContext.get_current()
            context.enable_progress_bars = False
            taken = _taken_by_earlier_blocks(ray, blocks, job["options"]) if job["mode"] == "ingest" else {}
            items = [{**asdict(b), "taken": taken.get(b.number, b"").hex()} for b in todo]
            dataset = ray.data.from_items(items, override_num_blocks=len(todo))
            dataset = dataset.map_batches(
                _tokenize_block, batch_size=1, batch_format="numpy", num_cpus=1,
                fn_kwargs={"tokenizer_json": probe.tokenizer.hf.to_str(), "read_limit": probe.read_limit})
            del probe
            dataset = dataset.map_batches(
                _BlockWorker, batch_size=1, batch_format="numpy",
                # num_cpus differs from the tokenize tasks', so Ray Data does not fuse those into the actors.
                compute=ray.data.ActorPoolStrategy(size=actors), num_gpus=1 if gpus else 0, num_cpus=0.5,
                fn_constructor_kwargs={"model": model, "encoder_options": options, "job": job})
            sizes = {b.number: b.lines for b in todo}
            with open(state / MANIFEST, "a", encoding="utf-8") as manifest:
                for row in _rows(dataset):
                    number, result = int(row["number"]), json.loads(row["result"])
                    manifest.write(json.dumps({"block": number, **result}) + "\n")
                    manifest.flush()
                    _add(report, result)
                    bar.update(sizes[number])
        finally:
            bar.close()
            if owns_ray:
                ray.shutdown()
    report.seconds = time.perf_counter() - started
    return report


def _taken_by_earlier_blocks(ray: Any, blocks: list[Block], options: Any) -> dict[int, bytes]:
    """The duplicate pass over every block (finished ones too: their ids are taken), then `taken_earlier`."""
    dataset = ray.data.from_items([asdict(b) for b in blocks], override_num_blocks=len(blocks)).map_batches(
        _taken_ids, batch_size=1, batch_format="numpy", num_cpus=1, fn_kwargs={"options": options})
    return taken_earlier({int(row["number"]): bytes.fromhex(str(row["keys"])) for row in _rows(dataset)})


def _rows(dataset: Any) -> Iterator[dict[str, Any]]:
    """The dataset's rows as blocks finish; our own exception in a worker (say an IngestError) is raised as
    itself, not wrapped in Ray's UserCodeException."""
    from nail_os.ingest import IngestError

    try:
        yield from dataset.iter_rows()
    except Exception as exc:
        cause: BaseException | None = exc
        while cause is not None and not isinstance(cause, (IngestError, CorpusError)):
            cause = getattr(cause, "cause", None) or cause.__cause__
        if cause is None:
            raise
        raise cause.with_traceback(None) from None


def _add(report: RayReport, result: dict[str, Any]) -> None:
    report.written += result.get("written", 0)
    report.rejected += result.get("rejected", 0)
    report.duplicates += result.get("duplicates", 0)
    report.empty += result.get("empty", 0)
    report.retries += result.get("retries", 0)
    report.truncated += result.get("truncated", 0)
    report.errors.extend(result.get("errors", []))
    for reason, count in result.get("reasons", {}).items():
        report.reasons[reason] = report.reasons.get(reason, 0) + count


def _load_manifest(state: Path, plan: dict[str, Any]) -> dict[int, dict[str, Any]]:
    """Finished blocks of an earlier run with the same plan: {block: its result}; a torn last line is ignored."""
    plan_file, manifest = state / PLAN, state / MANIFEST
    if not plan_file.is_file():
        return {}
    earlier = json.loads(plan_file.read_text(encoding="utf-8"))
    if earlier != json.loads(json.dumps(plan, default=str)):
        raise CorpusError(f"{state} holds a run with other settings ({_diff(earlier, plan)}): run with "
                          f"--no-resume to start over, or remove it")
    done: dict[int, dict[str, Any]] = {}
    if manifest.is_file():
        for line in manifest.read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue  # the driver was killed mid-write: that block is redone
            done[int(entry.pop("block"))] = entry
    return done


def _diff(earlier: dict[str, Any], now: dict[str, Any]) -> str:
    now = json.loads(json.dumps(now, default=str))
    return ", ".join(f"{k}: {earlier.get(k)!r} then, {now.get(k)!r} now" for k in sorted(set(earlier) | set(now))
                     if earlier.get(k) != now.get(k))

