"""Documents in: BEIR folders, JSONL files (plain or .gz), Parquet files and `ir_datasets` ids, as a stream of
records.

A bad line does not stop the stream: it comes out as a record with `error` set, naming the file and
line, so ingest can write it to the rejects file and go on. Lines are decoded one at a time, so one
line in the wrong encoding costs that line only.
"""

from __future__ import annotations

import gzip
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from nail_os.errors import NailOSError

ID_KEYS = ("_id", "id", "doc_id", "docid")
TEXT_KEYS = ("text", "contents", "body")
IRDS_PREFIX = "irds:"
# A JSON escape of a UTF-16 surrogate (\ud800-\udfff). Paired, json.loads joins them into one character;
# alone, it leaves a string that cannot be encoded as UTF-8, and the bulk request for the whole chunk fails.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


class CorpusError(NailOSError, ValueError):
    """A corpus that cannot be read at all (missing, not a corpus, unknown ir_datasets id)."""


@dataclass
class Record:
    """One input document: raw text to encode, pre-encoded features, or both."""

    source: str
    line: int
    doc_id: str | None = None
    title: str = ""
    text: str = ""
    features: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    error: str | None = None
    raw: str | None = field(default=None, repr=False)

    @property
    def where(self) -> str:
        """`corpus.jsonl:1204: doc "x17"`, for messages."""
        doc = f' doc "{self.doc_id}"' if self.doc_id is not None else ""
        return f"{self.source}:{self.line}:{doc}"

    @property
    def full_text(self) -> str:
        """Title and text as the encoder reads them."""
        return f"{self.title} {self.text}".strip() if self.title else self.text.strip()


def beir_file(folder: str | Path, name: str) -> Path:
    """`folder/name`, or `folder/name.gz` where only the gzipped file is there (BEIR folders ship either)."""
    folder = Path(folder)
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    raise CorpusError(f"{folder}: a BEIR folder needs {name} (or {name}.gz), found neither")


def read_corpus(spec: str | Path) -> Iterator[Record]:
    """Records from a BEIR folder (its corpus.jsonl[.gz]), a JSONL file (.jsonl.gz too), or an ir_datasets id."""
    path = Path(spec)
    if path.is_dir():
        yield from read_jsonl(beir_file(path, "corpus.jsonl"))
    elif path.is_file() and path.suffix == ".parquet":
        yield from read_parquet(path)
    elif path.is_file():
        yield from read_jsonl(path)
    else:
        yield from read_ir_dataset(str(spec))


def count_lines(spec: str | Path) -> int | None:
    """Lines of a corpus file or BEIR folder, for a progress total; None for an ir_datasets id."""
    path = Path(spec)
    if path.is_dir():
        path = beir_file(path, "corpus.jsonl")
    if not path.is_file():
        return None
    if path.suffix == ".parquet":
        return sum(parquet_row_groups(path))
    with _open_binary(path) as f:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))


def read_jsonl(path: Path) -> Iterator[Record]:
    """One record per non-blank line of `path`; bad lines become records with `error` set."""
    source = str(path)
    with _open_binary(path) as handle:
        for number, raw in enumerate(handle, start=1):
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]  # a UTF-8 byte-order mark is not part of the JSON
            if not raw.strip():
                continue
            yield parse_line(raw, source, number)


# The Parquet columns a record is made of (the JSONL keys); other columns (embeddings, ...) are not read.
PARQUET_COLUMNS = (*ID_KEYS, "title", *TEXT_KEYS, "features", "metadata")


def _parquet_file(path: Path) -> Any:
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise CorpusError(f"{path}: reading Parquet needs pyarrow: pip install pyarrow (it comes with "
                          f"'nail-os[ray]')") from exc
    return pq.ParquetFile(path)


def parquet_row_groups(path: Path) -> list[int]:
    """The rows of each row group of a Parquet file, from its footer (nothing else is read)."""
    metadata = _parquet_file(path).metadata
    return [metadata.row_group(group).num_rows for group in range(metadata.num_row_groups)]


def read_parquet(path: Path, start: int = 0, stop: int | None = None, source: str | None = None) -> Iterator[Record]:
    """One record per row `start`..`stop` (0-based, end excluded) of a Parquet file, made as from a JSONL line
    with those columns (`_id`|`id`, `title`, `text`, ...): the same checks, so the same errors. A record's
    `line` is its row number, counted from 1; a `features` map column comes back as a dict.

    Only the row groups that hold the range are read, each whole (a row group is Parquet's unit of reading):
    `--ray` blocks are runs of whole row groups. `source` names the file in messages (default: `path`).
    """
    parquet = _parquet_file(path)
    source = source or str(path)
    columns = [c for c in parquet.schema_arrow.names if c in PARQUET_COLUMNS]
    stop = parquet.metadata.num_rows if stop is None else stop
    first = 0  # the row number of the current row group's first row
    for group in range(parquet.num_row_groups):
        size = parquet.metadata.row_group(group).num_rows
        if first + size > start and first < stop:
            rows = parquet.read_row_group(group, columns=columns).to_pylist()
            for offset in range(max(start - first, 0), min(stop - first, size)):
                obj = {k: v for k, v in rows[offset].items() if v is not None}
                if isinstance(obj.get("features"), list):  # a map column: (key, value) pairs
                    obj["features"] = dict(obj["features"])
                number = first + offset + 1
                yield record_from_object(obj, source, number, raw=json.dumps(obj, ensure_ascii=False, default=str))
        first += size


def _open_binary(path: Path) -> BinaryIO:
    """A corpus file for reading bytes; `.gz` files are decompressed on the fly."""
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")  # type: ignore[return-value]


def parse_line(raw: bytes, source: str, line: int) -> Record:
    """A record from one JSONL line: `{"_id"|"id", "title"?, "text"?, "features"?, "metadata"?}`."""
    try:
        decoded = raw.rstrip(b"\r\n").decode("utf-8")  # without the newline: a column is on this line
    except UnicodeDecodeError as exc:
        return Record(
            source, line, error=f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start})",
            raw=raw.rstrip(b"\r\n").decode("utf-8", "replace"),
        )
    try:
        obj = json.loads(decoded)
    except json.JSONDecodeError as exc:
        return Record(source, line, error=f"malformed JSON: {exc.msg} at column {exc.colno}", raw=decoded)
    if not isinstance(obj, dict):
        return Record(source, line, error=f"expected a JSON object, got {type(obj).__name__}", raw=decoded)
    record = record_from_object(obj, source, line, raw=decoded)
    if not record.error and _SURROGATE_ESCAPE.search(decoded) and not _encodable(obj):
        record.error = "a string holds an unpaired UTF-16 surrogate escape (\\ud800-\\udfff): not valid Unicode"
        if not _encodable(record.doc_id):
            record.doc_id = None  # the rejects file and the logs must stay valid UTF-8
    return record


def _encodable(obj: Any) -> bool:
    try:
        json.dumps(obj, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def record_from_object(obj: dict[str, Any], source: str, line: int, raw: str | None = None) -> Record:
    doc_id = next((obj[k] for k in ID_KEYS if k in obj), None)
    record = Record(source, line, raw=raw)
    if isinstance(doc_id, int) and not isinstance(doc_id, bool):
        doc_id = str(doc_id)
    if not isinstance(doc_id, str) or not doc_id.strip():
        record.error = f"missing or empty document id (one of {', '.join(ID_KEYS)}), got {doc_id!r}"
        return record
    record.doc_id = doc_id
    title = obj.get("title") or ""
    text = next((obj[k] for k in TEXT_KEYS if k in obj), "") or ""
    if not isinstance(title, str) or not isinstance(text, str):
        record.error = "title and text must be strings"
        return record
    record.title, record.text = title, text
    features = obj.get("features")
    if features is not None and not isinstance(features, dict):
        record.error = f"features must be an object of token → weight, got {type(features).__name__}"
        return record
    record.features = features
    metadata = obj.get("metadata")
    record.metadata = metadata if isinstance(metadata, dict) and metadata else None
    return record


def read_ir_dataset(dataset_id: str) -> Iterator[Record]:
    """Records from an `ir_datasets` id (`irds:beir/scifact` or `beir/scifact`), when its data is local."""
    name = dataset_id.removeprefix(IRDS_PREFIX)
    try:
        import ir_datasets
    except ImportError as exc:
        raise CorpusError(
            f"{dataset_id!r} is not a file or folder, and reading ir_datasets ids needs "
            f"pip install 'nail-os[eval]'"
        ) from exc
    try:
        dataset = ir_datasets.load(name)
    except KeyError as exc:
        raise CorpusError(f"{dataset_id!r} is neither a file, a folder nor a known ir_datasets id") from exc
    if not dataset.has_docs():
        raise CorpusError(f"ir_datasets {name!r} has no documents")
    source = f"{IRDS_PREFIX}{name}"
    try:
        for number, doc in enumerate(dataset.docs_iter(), start=1):
            fields = doc._asdict()
            yield Record(
                source, number, doc_id=str(fields.pop("doc_id")), title=str(fields.pop("title", "") or ""),
                text=str(fields.pop("text", "") or fields.pop("body", "") or ""),
            )
    except Exception as exc:  # ir_datasets downloads on first use; offline that fails deep inside
        raise CorpusError(
            f"ir_datasets {name!r}: its data is not available locally ({exc}); download it where there is "
            f"network, or point nail-os at a BEIR folder"
        ) from exc


def read_documents(path: str | Path) -> list[Record]:
    """Every record of a BEIR folder's corpus or a JSONL(.gz) file, in file order, for readers that need all
    of them (training): unlike `read_corpus`, a bad line raises, naming up to 20 of them, instead of flowing on."""
    return _valid(read_corpus(path) if Path(path).is_dir() else read_jsonl(Path(path)), "documents")


def read_queries(path: str | Path) -> dict[str, str]:
    """`{query_id: text}` from a BEIR folder's queries.jsonl[.gz] (or a queries JSONL file)."""
    path = Path(path)
    if path.is_dir():
        path = beir_file(path, "queries.jsonl")
    return {str(record.doc_id): record.text for record in _valid(read_jsonl(path), "queries")}


def _valid(records: Iterator[Record], what: str) -> list[Record]:
    """All of `records`, or a CorpusError naming the bad ones (the first 20) once all were read."""
    good: list[Record] = []
    errors: list[str] = []
    for record in records:
        if record.error:
            errors.append(f"{record.where} {record.error}")
        else:
            good.append(record)
    if errors:
        raise CorpusError(f"bad {what}:\n" + "\n".join(errors[:20]))
    return good


def qrels_splits(folder: str | Path) -> list[str]:
    """The splits a BEIR folder has judgements for (`qrels/<split>.tsv[.gz]`), sorted."""
    qrels_dir = Path(folder) / "qrels"
    names = qrels_dir.glob("*.tsv*") if qrels_dir.is_dir() else []
    return sorted({p.name.split(".")[0] for p in names if p.name.endswith((".tsv", ".tsv.gz"))})


def read_qrels(folder: str | Path, split: str = "test") -> dict[str, dict[str, int]]:
    """`{query_id: {doc_id: relevance}}` from `qrels/<split>.tsv[.gz]` (header `query-id corpus-id score`)."""
    try:
        path = beir_file(Path(folder) / "qrels", f"{split}.tsv")
    except CorpusError:
        raise CorpusError(f"{Path(folder) / 'qrels' / split}.tsv: no qrels for split {split!r}") from None
    qrels: dict[str, dict[str, int]] = {}
    with _open_binary(path) as raw, io.TextIOWrapper(raw, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            cols = line.rstrip("\n").split("\t")
            if number == 1 and cols[0] == "query-id":
                continue
            if len(cols) < 3:
                raise CorpusError(f"{path}:{number}: expected query-id, corpus-id, score; got {line!r}")
            try:
                qrels.setdefault(cols[0], {})[cols[1]] = int(cols[2])
            except ValueError:
                raise CorpusError(f"{path}:{number}: score {cols[2]!r} is not an integer") from None
    return qrels
