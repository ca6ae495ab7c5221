"""The evaluation's indices, built through the ingest code: the full one (BM25 fields + NAIL features) and a
BM25-only twin for the size comparison.

The full index is ingested once through the ingest code, whose per-document results (`Ingester.stream`) carry
the features each indexed document was sent with, so the exactness check scores exactly what was indexed
(the corpus is read once, and no feature is rebuilt). Those features are cached beside ingest's own state
(`~/.cache/nail-os/eval/`); a later run reuses the index when its model, source and document count still match
the cache, and `reindex=True` forces a rebuild.

With `features=` (a `nail-os encode` JSONL, e.g. made on a GPU machine) the corpus is not encoded here: each
document takes its features from that file by id, so the evaluation runs where no encoder could keep up.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opensearchpy import OpenSearch

from nail_os.cache import cache_dir
from nail_os.corpus import Record, count_lines, read_corpus, read_jsonl
from nail_os.documents import EMPTY_TEXT
from nail_os.errors import NailOSError
from nail_os.evaluation.efficiency import force_merge, size_breakdown, store_size
from nail_os.ingest import Ingester, IngestOptions, LazyEncoder, ingest_source
from nail_os.mapping import DEFAULT_NAIL_FIELD, create_index
from nail_os.registry import resolve_model_dir
from nail_os.tokens import Tokenizer

log = logging.getLogger(__name__)
CACHE_FORMAT = "nail-os-eval-features/1"
BM25_ONLY_SUFFIX = "-bm25only"


class EvalIndexError(NailOSError, RuntimeError):
    """The evaluation index could not be built as asked (documents rejected, counts that do not add up)."""


@dataclass
class PreparedIndex:
    """The full index, ready to query: its features as ingested, and how it came to be."""

    index: str
    features: dict[str, dict[str, float]]  # doc_id → {feature name: weight}, as sent to the engine
    reused: bool
    ingest: dict[str, Any] = field(default_factory=dict)


def model_fingerprint(model_dir: Path) -> str:
    """A short hash of a model folder's config and weight files (name, size, mtime): a retrained
    checkpoint saved under the same name does not reuse an index encoded by the old one."""
    digest = hashlib.sha1((model_dir / "config.json").read_bytes())
    for path in sorted(model_dir.iterdir()):
        if path.suffix in (".safetensors", ".bin", ".pt"):
            stat = path.stat()
            digest.update(f"{path.name}\0{stat.st_size}\0{int(stat.st_mtime)}".encode())
    return digest.hexdigest()[:16]


def _identity(source: str, model: str, model_dir: Path, nail_field: str, features: Path | None
              ) -> dict[str, str]:
    path = Path(source)
    identity = {"source": str(path.resolve()) if path.exists() else source, "model": model,
                "model_fingerprint": model_fingerprint(model_dir), "nail_field": nail_field}
    if features is not None:  # a re-encoded file under the same name must not reuse the old index
        stat = features.stat()
        identity["features_file"] = f"{features.resolve()}\0{stat.st_size}\0{int(stat.st_mtime)}"
    return identity


def load_encoded(path: Path) -> dict[str, dict[str, Any]]:
    """doc id → features from a `nail-os encode` JSONL; a line without an id or features is an error that
    names the file and line (a half-written last line included: re-run `nail-os encode` to finish it)."""
    if not path.is_file():
        raise EvalIndexError(f"{path}: features file not found")
    table: dict[str, dict[str, Any]] = {}
    for record in read_jsonl(path):
        if record.error or record.doc_id is None or record.features is None:
            raise EvalIndexError(f"{record.where} {record.error or 'no id or no features'}: not a line of "
                                 f"`nail-os encode` output")
        table[record.doc_id] = record.features
    return table


def _with_features(source: str, table: dict[str, dict[str, Any]], path: Path) -> Iterator[Record]:
    """The corpus's records, each with its pre-encoded features; a document the file lacks is an error.

    A document with no text is refused as text ingest refuses it, even if the file has features for it, so
    that both paths index the same documents.
    """
    for record in read_corpus(source):
        if record.doc_id is None or record.error:
            pass  # ingest reports it
        elif not record.full_text:
            record.error = EMPTY_TEXT
        else:
            record.features = table.get(record.doc_id)
            if record.features is None:
                raise EvalIndexError(f"{record.where} has no features in {path}: encode the same corpus "
                                     f"(`nail-os encode {source} -o {path}`)")
        yield record


def _cache_path(index: str) -> Path:
    return cache_dir("eval") / f"{index}.features.jsonl.gz"


def save_features(path: Path, header: dict[str, Any], features: dict[str, dict[str, float]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with gzip.open(tmp, "wt", encoding="utf-8") as handle:
        handle.write(json.dumps({"format": CACHE_FORMAT, **header}) + "\n")
        for doc_id, feats in features.items():
            handle.write(json.dumps({"id": doc_id, "features": feats}) + "\n")
    os.replace(tmp, path)  # a crash leaves the old cache or the new one, never half of one


def load_features(path: Path) -> tuple[dict[str, Any], dict[str, dict[str, float]]] | None:
    """(header, features) from a cache file, or None when it is missing or not ours."""
    if not path.is_file():
        return None
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        header = json.loads(handle.readline())
        if header.get("format") != CACHE_FORMAT:
            return None
        features = {}
        for line in handle:
            entry = json.loads(line)
            features[entry["id"]] = entry["features"]
    return header, features


def _doc_count(client: OpenSearch, index: str) -> int:
    client.indices.refresh(index=index)
    return int(client.count(index=index)["count"])


def _reusable(client: OpenSearch, index: str, identity: dict[str, str], records: int | None
              ) -> dict[str, dict[str, float]] | None:
    if not client.indices.exists(index=index):
        return None
    cached = load_features(_cache_path(index))
    if cached is None:
        log.warning("index %r exists but its features cache %s is missing: re-ingesting", index, _cache_path(index))
        return None
    header, features = cached
    stale = [k for k, v in identity.items() if header.get(k) != v]
    # The cache is one file per index name, shared by every cluster this machine evaluates on; the index's own
    # _meta (written at creation) says what this cluster's copy was built from.
    mapping = client.indices.get_mapping(index=index).get(index, {}).get("mappings", {})
    meta = mapping.get("_meta", {}).get("nail_os", {})  # as nail_os.mapping.create_index writes it
    stale += [f"{k} (the index's _meta)" for k, v in identity.items() if meta.get(k) != v]
    if records is not None and header.get("records") != records:
        stale.append(f"records ({header.get('records')} cached, {records} in the corpus now)")
    count = _doc_count(client, index)
    if count != len(features):
        stale.append(f"document count ({count} in the index, {len(features)} ingested)")
    if stale:
        log.warning("index %r does not match this run (%s): re-ingesting", index, ", ".join(stale))
        return None
    return features


def prepare_index(
    client: OpenSearch,
    source: str,
    index: str,
    *,
    model: str,
    nail_field: str = DEFAULT_NAIL_FIELD,
    reindex: bool = False,
    device: str | None = None,
    features: Path | None = None,
    show_progress: bool = True,
) -> PreparedIndex:
    """The full index for `source` under `model`: reused when it matches, else (re)built through `ingest()`.
    `features`: a `nail-os encode` JSONL of the same corpus by the same model, used instead of encoding."""
    model_dir = resolve_model_dir(model)
    identity = _identity(source, model, model_dir, nail_field, features)
    records = count_lines(source)
    if not reindex:
        cached = _reusable(client, index, identity, records)
        if cached is not None:
            log.info("reusing index %r (%d documents)", index, len(cached))
            return PreparedIndex(index, cached, reused=True)

    tokenizer = Tokenizer.from_model_dir(model_dir)
    client.indices.delete(index=index, ignore_unavailable=True)
    create_index(client, index, nail_field=nail_field, meta=identity)
    corpus = read_corpus(source) if features is None else _with_features(source, load_encoded(features), features)
    rejects = cache_dir("eval") / f"{index}.rejects.jsonl"
    options = IngestOptions(index=index, nail_field=nail_field, resume=False, rejects_path=rejects, state_path=None)
    ingester = Ingester(client, options, encoder=LazyEncoder(model, tokenizer, device), tokenizer=tokenizer)
    ingested = {result.doc_id: result.features for result in ingester.stream(corpus, total=records,
                                                                             show_progress=show_progress)
                if result.ok and result.features is not None}
    report = ingester.report
    count = _doc_count(client, index)
    if count != len(ingested):
        raise EvalIndexError(
            f"index {index!r} holds {count} documents but {len(ingested)} were encoded from {source}; "
            f"rejects: {rejects}"
        )
    save_features(_cache_path(index), {**identity, "records": records, "indexed": report.indexed}, ingested)
    summary = {"indexed": report.indexed, "rejected": report.rejected, "seconds": report.seconds,
               "docs_per_second": report.docs_per_second, "reasons": report.reasons,
               "rejects": str(rejects) if report.rejected else None}
    return PreparedIndex(index, ingested, reused=False, ingest=summary)


def measure_sizes(client: OpenSearch, source: str, index: str, *, model: str, nail_field: str = DEFAULT_NAIL_FIELD,
                  show_progress: bool = True) -> dict[str, Any]:
    """Store size of the full index and of a BM25-only twin (`ingest_source(encode=False)`), both merged to
    one segment. The twin is deleted afterwards; the full index stays merged for the query runs."""
    twin = index + BM25_ONLY_SUFFIX
    client.indices.delete(index=twin, ignore_unavailable=True)
    try:
        report = ingest_source(client, source, IngestOptions(index=twin, nail_field=nail_field, resume=False),
                               model=model, encode=False, show_progress=show_progress)
        force_merge(client, twin)
        bm25_only = store_size(client, twin)
    finally:
        client.indices.delete(index=twin, ignore_unavailable=True)
    force_merge(client, index)
    sizes = size_breakdown(bm25_only, store_size(client, index))
    sizes["bm25_only_ingest_seconds"] = report.seconds
    return sizes
