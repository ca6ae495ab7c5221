"""Shards and resume for `encode_corpus` (no torch); reading the corpus itself is `nail_os.corpus`'s job."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

from nail_os.corpus import CorpusError


def parse_shard(value: str | tuple[int, int]) -> tuple[int, int]:
    """ "i/n" or (i, n) -> (i, n) with 0 <= i < n."""
    try:
        i, n = (int(x) for x in value.split("/")) if isinstance(value, str) else value
    except ValueError as exc:
        raise ValueError(f'shard "{value}" is not "i/n" with integers, e.g. "0/4"') from exc
    if n < 1 or not 0 <= i < n:
        raise ValueError(f'shard "{i}/{n}" needs 0 <= i < n, e.g. "0/4" ... "3/4"')
    return i, n


def in_shard(doc_id: str, shard: tuple[int, int]) -> bool:
    """Stable across runs, machines and corpus order: CRC-32 of the id (Python's hash() is salted)."""
    i, n = shard
    return n == 1 or zlib.crc32(doc_id.encode("utf-8")) % n == i


def done_ids(path: Path) -> set[str]:
    """Ids already in an output JSONL; a torn last line (a killed run) is cut off so appends stay valid."""
    if not path.is_file():
        return set()
    ids: set[str] = set()
    good_end = 0
    bad: str | None = None  # a complete but unreadable line; fine only as the last one (a torn write)
    with path.open("rb") as f:
        for line_no, line in enumerate(f, start=1):
            if bad is not None:
                raise CorpusError(
                    f"{bad}; not the last line, so encode_corpus did not write this file: move it away"
                )
            if not line.endswith(b"\n"):
                break  # torn final write
            try:
                ids.add(str(json.loads(line)["id"]))
            except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError) as exc:
                bad = f"{path}:{line_no}: not a feature record ({exc!r})"
                continue
            good_end += len(line)
    if good_end < path.stat().st_size:
        with path.open("r+b") as f:
            f.truncate(good_end)
    return ids
