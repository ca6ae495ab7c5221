"""Documents -> `{token: weight}` with a NailModel: the `SparseEncoder` the ingest path calls.

Throughput comes from three habits: documents are sorted by token length so a batch pads little
(length bucketing), the GPU runs under bf16/fp16 autocast, and top-k runs on the device with one
device -> host copy per batch; Python only builds the final dicts.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from tqdm.auto import tqdm

from nail_os.corpus import CorpusError, Record, count_lines, read_corpus
from nail_os.model._corpus import done_ids, in_shard, parse_shard
from nail_os.model.batching import batch_tensors  # re-exported: train/ and eval/ import it from here
from nail_os.model.nail import NailModel, document_tokenizer
from nail_os.tokens import Tokenizer

# Weights are written with 4 decimals: OpenSearch rank_features keep 9 significant bits (Lucene
# FeatureField), about 3 decimal digits, so more only grows the JSONL. Weights that round to 0 are dropped.
DEFAULT_DECIMALS = 4
# Long documents: up to 8 windows of max_length tokens (about 1,800 tokens at 256), 32 tokens shared between
# neighbours. The length-aware top-k is off unless asked for; its floor keeps a title's main expansions.
DEFAULT_MAX_WINDOWS = 8
DEFAULT_WINDOW_OVERLAP = 32
DEFAULT_MIN_TOP_K = 32
# encode_corpus sorts and writes this many batches at a time: longer runs bucket better, shorter ones lose
# less on a kill (resume redoes at most one chunk).
BATCHES_PER_CHUNK = 32


_PRECISIONS: dict[str, torch.dtype | None] = {
    "auto": None,
    "fp32": None,
    "bf16": torch.bfloat16,
    "fp16": torch.float16,
}


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def usable_cpus() -> int:
    """CPUs this process may run on (the affinity mask): os.cpu_count() counts the host's in a container."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def length_aware_top_k(num_tokens: int, top_k: int, top_k_per_token: float | None,
                       min_top_k: int = DEFAULT_MIN_TOP_K) -> int:
    """Tokens a document of `num_tokens` tokens keeps: max(`min_top_k`, n x `top_k_per_token`), at most `top_k`
    (`top_k` itself when `top_k_per_token` is None). The cut `DocumentEncoder` makes, for features encoded without it.
    """
    if top_k_per_token is None:
        return top_k
    return max(1, min(top_k, max(min_top_k, round(num_tokens * top_k_per_token))))


class DocumentEncoder:
    """The NAIL (or SPLADE-pooling) model as a `nail_os.encoders.SparseEncoder`.

    Args:
        model: a NailModel; moved to `device` and put in eval mode.
        tokenizer: query-side tokenizer; default the model's own tokenizer.json and query weights.
        device: "cuda", "cpu", ...; default cuda when available.
        top_k: tokens kept per document; default `model.config.top_k`.
        max_length: tokens read per document; default `model.config.max_length`.
        num_threads: CPU threads for torch on a CPU device; default the CPUs this process may use.
        decimals: weights are rounded to this many decimals (None: full float32).
        precision: "auto": bf16 autocast on a GPU that has it (else fp16), fp32 on CPU; or "fp32", "bf16",
            "fp16" on any device. On a CPU with AMX, "bf16" is ~1.5x faster and keeps ~98% of the top-64
            tokens of fp32 (MiniLM NAIL and splade-tiny, SciFact).
        max_windows: a document longer than `max_length` is read in up to this many overlapping windows of
            `max_length` tokens, and its weight for a token is the largest any window gives it (1: the first
            window only, i.e. truncation). The merge of the windows' top-k is the top-k of the merge, exactly.
        window_overlap: tokens each window shares with the one before, so a phrase cut by one is whole in the other.
        top_k_per_token: length-aware top-k: a document of n tokens keeps at most max(`min_top_k`,
            n × this) tokens, never more than `top_k` (None: the model config's, where it sets one, else always
            `top_k`). A 12-word title then stores a few dozen expansions instead of 256.
        min_top_k: the floor of the length-aware top-k (with an explicit `top_k_per_token`).

    >>> enc = DocumentEncoder.from_model_dir("splade-tiny")  # doctest: +SKIP
    >>> sorted(enc.encode_documents(["coffee beans"])[0].items(), key=lambda kv: -kv[1])[:2]  # doctest: +SKIP
    [('coffee', 2.2), ('beans', 2.1)]
    """

    def __init__(
        self,
        model: NailModel,
        *,
        tokenizer: Tokenizer | None = None,
        device: str | torch.device | None = None,
        top_k: int | None = None,
        max_length: int | None = None,
        num_threads: int | None = None,
        decimals: int | None = DEFAULT_DECIMALS,
        precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto",
        max_windows: int = DEFAULT_MAX_WINDOWS,
        window_overlap: int = DEFAULT_WINDOW_OVERLAP,
        top_k_per_token: float | None = None,
        min_top_k: int = DEFAULT_MIN_TOP_K,
    ) -> None:
        self.device = torch.device(device) if device is not None else default_device()
        if self.device.type == "cpu":
            torch.set_num_threads(num_threads or usable_cpus())
        self.model = model.to(self.device).eval()
        self.tokenizer = tokenizer if tokenizer is not None else model.tokenizer
        vocab_size = model.config.vocab_size
        if self.tokenizer.vocab_size != vocab_size:
            raise ValueError(
                f"tokenizer has {self.tokenizer.vocab_size} tokens but the model scores {vocab_size}; "
                "use the tokenizer.json saved with the model"
            )
        self.top_k = min(top_k or model.config.top_k, vocab_size)
        self.max_length = max_length or model.config.max_length
        self.decimals = decimals
        if max_windows < 1 or not 0 <= window_overlap < self.max_length - 2:
            raise ValueError(f"max_windows {max_windows} must be >= 1 and window_overlap {window_overlap} in "
                             f"0..{self.max_length - 3}")
        if top_k_per_token is not None and top_k_per_token <= 0 or min_top_k < 1:
            raise ValueError(f"top_k_per_token {top_k_per_token} must be > 0 and min_top_k {min_top_k} >= 1")
        self.max_windows, self.window_overlap = max_windows, window_overlap
        if top_k_per_token is None and model.config.top_k_per_token > 0:  # the model's own setting
            top_k_per_token, min_top_k = model.config.top_k_per_token, model.config.min_top_k
        self.top_k_per_token, self.min_top_k = top_k_per_token, min_top_k
        # Documents are tokenized whole (up to max_windows windows) and cut into windows here.
        self._doc_tokenizer = document_tokenizer(self.tokenizer.hf.to_str(), self.read_limit)
        self._pad_id = int(model.config.encoder.get("pad_token_id") or 0)
        # On a GPU every new batch width costs a new attention plan (cuDNN SDPA builds one per shape, about as
        # long as the batch itself): widths rounded up to 64 leave max_length / 64 shapes. Padded positions are
        # masked, so the weights do not change; on a CPU the padding would only cost time.
        self._pad_multiple = 64 if self.device.type == "cuda" else 1
        self._token_array = np.array([self.tokenizer.id_to_token(i) for i in range(vocab_size)], dtype=object)
        if precision not in _PRECISIONS:
            raise ValueError(f'precision "{precision}" is not one of {sorted(_PRECISIONS)}')
        if precision == "auto" and self.device.type == "cuda":
            precision = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        # CPU defaults to fp32: without AMX (pre-Sapphire Rapids Xeons, most laptops) bf16 is slower.
        self._autocast_dtype = _PRECISIONS[precision]

    @classmethod
    def from_model_dir(
        cls, path: str | Path, *, device: str | torch.device | None = None, **kwargs
    ) -> DocumentEncoder:
        from nail_os.model import load_model

        return load_model(path, device=device, **kwargs)

    @property
    def read_limit(self) -> int:
        """Tokens of a document that are read, [CLS] and [SEP] included: what `max_windows` windows cover."""
        step = self.max_length - 2 - self.window_overlap
        return self.max_length + (self.max_windows - 1) * step

    def windows(self, ids: list[int]) -> list[list[int]]:
        """`ids` ([CLS] ... [SEP], at most `read_limit` long) as windows of at most `max_length` tokens, each
        [CLS] ... [SEP], overlapping by `window_overlap` tokens; a short document is its one window."""
        if len(ids) <= self.max_length:
            return [ids]
        cls, body, sep = ids[0], ids[1:-1], ids[-1]
        width, step = self.max_length - 2, self.max_length - 2 - self.window_overlap
        starts = range(0, max(1, len(body) - self.window_overlap), step)
        return [[cls, *body[s : s + width], sep] for s in starts][: self.max_windows]

    def keep(self, num_tokens: int) -> int:
        """How many tokens a document of `num_tokens` tokens keeps (the length-aware top-k)."""
        return length_aware_top_k(num_tokens, self.top_k, self.top_k_per_token, self.min_top_k)

    def encode_documents(
        self, texts: Sequence[str], *, batch_size: int = 32, show_progress: bool = False
    ) -> list[dict[str, float]]:
        """One `{token: weight}` per text, in input order: at most `top_k` tokens, weights finite and > 0.

        A text longer than `max_length` tokens is encoded in windows (`windows`) whose weights are merged by
        max; `keep` then bounds how many tokens it stores.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size is {batch_size}; it must be >= 1")
        texts = list(texts)
        if not texts:
            return []
        return self.encode_token_ids(self.tokenize_documents(texts), batch_size=batch_size,
                                     show_progress=show_progress)

    def tokenize_documents(self, texts: Sequence[str]) -> list[list[int]]:
        """Each text's token ids, [CLS] ... [SEP], at most `read_limit` long: the CPU half of
        `encode_documents`, which `nail_os.distributed` runs on CPU workers apart from the model."""
        return [e.ids for e in self._doc_tokenizer.encode_batch(list(texts))]

    def encode_token_ids(
        self, whole: Sequence[Sequence[int]], *, batch_size: int = 32, show_progress: bool = False
    ) -> list[dict[str, float]]:
        """`encode_documents` for texts already tokenized by `tokenize_documents`."""
        if len(whole) == 0:
            return []
        ids: list[list[int]] = []
        owner: list[int] = []  # the text each window comes from
        for doc, doc_ids in enumerate(whole):
            for window in self.windows(list(doc_ids)):
                ids.append(window)
                owner.append(doc)
        per_window = self._encode_windows(ids, batch_size, show_progress)
        results: list[dict[str, float] | None] = [None] * len(whole)
        for doc, weights in zip(owner, per_window, strict=True):
            merged = results[doc]
            if merged is None:
                results[doc] = weights
                continue
            for token, w in weights.items():
                if w > merged.get(token, 0.0):
                    merged[token] = w
        out: list[dict[str, float]] = []
        for doc, merged in enumerate(results):
            assert merged is not None  # every text has at least one window
            limit = self.keep(len(whole[doc]) - 2)
            if len(merged) > limit:  # windows merged past top_k, or a short text's length-aware cut
                merged = dict(sorted(merged.items(), key=lambda kv: (-kv[1], kv[0]))[:limit])
            out.append(merged)
        return out

    def _encode_windows(
        self, ids: list[list[int]], batch_size: int, show_progress: bool
    ) -> list[dict[str, float]]:
        """One `{token: weight}` (top `top_k`) per token-id sequence of at most `max_length`, in input order."""
        order = sorted(
            range(len(ids)), key=lambda i: len(ids[i]), reverse=True
        )  # longest first: OOM shows early
        results: list[dict[str, float]] = [{} for _ in ids]
        bar = tqdm(total=len(ids), unit="window", disable=None if show_progress else True, file=sys.stderr)
        # Double-buffered: batch i+1 is queued on the device before batch i's weights are turned into dicts,
        # so on a GPU the host's share (tokens, dicts) overlaps the model instead of leaving the GPU idle.
        pending: tuple[list[int], _Launched] | None = None
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            launched = self._launch([ids[i] for i in rows])
            if pending is not None:
                self._collect(*pending, results)
                bar.update(len(pending[0]))
            pending = (rows, launched)
        if pending is not None:
            self._collect(*pending, results)
            bar.update(len(pending[0]))
        bar.close()
        return results

    def _launch(self, ids: list[list[int]]) -> _Launched:
        """Queue one batch: forward, top-k, and the copy of (weights, ids) to the host; returns at once on
        a GPU (the copy lands in pinned memory; its event says when), after the work on a CPU."""
        batch = batch_tensors(ids, self.device, self._pad_id, self._pad_multiple)
        autocast = (
            torch.autocast(self.device.type, dtype=self._autocast_dtype)
            if self._autocast_dtype is not None
            else contextlib.nullcontext()
        )
        with torch.inference_mode(), autocast:
            scores = self.model(**batch).float()  # (B, V)
            values, indices = torch.topk(scores, self.top_k, dim=1)  # (B, k), sorted by weight
            values = values.nan_to_num(nan=0.0, posinf=0.0, neginf=0.0)  # rank_features needs finite > 0
            # Token ids < 2^24 are exact in float32, so weights and ids travel in one device -> host copy.
            packed = torch.stack([values, indices.float()])  # (2, B, k)
            if self.device.type != "cuda":
                return _Launched(packed, None)
            host = torch.empty(packed.shape, dtype=packed.dtype, pin_memory=True)
            host.copy_(packed, non_blocking=True)
            done = torch.cuda.Event()
            done.record()
            return _Launched(host, done)

    def _collect(self, rows: list[int], launched: _Launched, results: list[dict[str, float]]) -> None:
        """Wait for a launched batch and write its `{token: weight}` dicts into `results` at `rows`."""
        if launched.done is not None:
            launched.done.synchronize()
        packed = launched.packed.numpy()
        weights = packed[0].astype(np.float64)  # float64 so rounded values print short in JSON
        if self.decimals is not None:
            weights = np.round(weights, self.decimals)
        tokens = self._token_array[packed[1].astype(np.int64)]  # (B, k) token strings
        keep = weights > 0  # (B, k); a mask, not a prefix: NaN scores sort first, then became 0
        for r, i in enumerate(rows):
            results[i] = dict(zip(tokens[r][keep[r]].tolist(), weights[r][keep[r]].tolist(), strict=True))


@dataclass
class _Launched:
    packed: torch.Tensor  # (2, B, k) weights and token ids, on the host once `done`
    done: torch.cuda.Event | None  # None on a CPU, where the work is finished on return


@dataclass
class EncodeReport:
    """What `encode_corpus` did; `errors` are unreadable corpus lines ("file:line: problem").

    `empty` counts documents with no text: they are not written, as ingest would refuse them (an encoder
    given only [CLS] [SEP] still puts weight on tokens, which would match queries for no reason).
    """

    output: Path
    written: int = 0
    already_done: int = 0
    other_shards: int = 0
    duplicates: int = 0
    empty: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)

    @property
    def docs_per_second(self) -> float:
        return self.written / self.seconds if self.seconds else 0.0


def encode_corpus(
    model_dir: str | Path | DocumentEncoder,
    input: str | Path,
    output_jsonl: str | Path,
    *,
    batch_size: int = 32,
    shard: tuple[int, int] | str = (0, 1),
    resume: bool = True,
    device: str | None = None,
    show_progress: bool = True,
    top_k: int | None = None,
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto",
    top_k_per_token: float | None = None,
) -> EncodeReport:
    """Encode a corpus into `{"id": ..., "features": {token: weight}}` JSONL lines, in corpus order.

    Args:
        model_dir: a model folder or name ("nail-minilm", "splade-tiny"), or a ready DocumentEncoder.
        input: a BEIR folder, a corpus JSONL file (`_id` or `id`, `title`, `text`) or an ir_datasets id,
            read by `nail_os.corpus.read_corpus`; the document is title + " " + text.
        output_jsonl: appended to; only complete lines are ever left behind.
        batch_size: documents per forward pass.
        shard: (i, n) or "i/n": encode only ids whose CRC-32 is i modulo n, so n machines running
            shards 0..n-1 cover the corpus exactly once, whatever the line order.
        resume: skip ids already in `output_jsonl` (a torn last line is cut off first); False truncates it.
        device: for a model folder; default cuda when available.
        show_progress: a tqdm bar on stderr.
        top_k: tokens per document for a model folder; default the model's config.
        precision: for a model folder, see DocumentEncoder.
        top_k_per_token: for a model folder, the length-aware top-k (see DocumentEncoder); default the model's.

    Raises `nail_os.corpus.CorpusError` after encoding every readable line if some could not be read.

    >>> report = encode_corpus("splade-tiny", "scifact/", "out.jsonl", show_progress=False)  # doctest: +SKIP
    >>> report.written  # doctest: +SKIP
    5183
    """
    shard = parse_shard(shard)
    output = Path(output_jsonl)
    records = read_corpus(input)  # a generator: a missing corpus raises on first next()
    if isinstance(model_dir, DocumentEncoder):
        encoder = model_dir
    else:
        from nail_os.model import load_model

        options = {} if top_k_per_token is None else {"top_k_per_token": top_k_per_token}
        encoder = load_model(model_dir, device=device, top_k=top_k, precision=precision, **options)
    output.parent.mkdir(parents=True, exist_ok=True)
    done = done_ids(output) if resume else set()
    seen: set[str] = set()  # ids met in this run, to skip a corpus's duplicate ids
    report = EncodeReport(output=output)
    started = time.perf_counter()
    bar = tqdm(
        total=count_lines(input) if show_progress else None,
        unit="doc",
        disable=None if show_progress else True,
        file=sys.stderr,
    )
    chunk: list[Record] = []
    with output.open("a" if resume else "w", encoding="utf-8") as out:

        def flush() -> None:
            features = encoder.encode_documents([r.full_text for r in chunk], batch_size=batch_size)
            lines = "".join(
                json.dumps({"id": r.doc_id, "features": f}, ensure_ascii=False) + "\n"
                for r, f in zip(chunk, features, strict=True)
            )
            out.write(lines)  # one write per chunk: a kill leaves at most a torn last line, cut on resume
            out.flush()
            report.written += len(chunk)
            bar.update(len(chunk))
            chunk.clear()

        for record in records:
            doc_id = record.doc_id
            if record.error or doc_id is None:
                report.errors.append(f"{record.where} {record.error}")
            elif not in_shard(doc_id, shard):
                report.other_shards += 1
            elif doc_id in done:
                report.already_done += 1
            elif doc_id in seen:
                report.duplicates += 1
            elif not record.full_text:
                report.empty += 1
            else:
                seen.add(doc_id)
                chunk.append(record)
                if len(chunk) >= batch_size * BATCHES_PER_CHUNK:
                    flush()
                continue
            bar.update(1)
        if chunk:
            flush()
    bar.close()
    report.seconds = time.perf_counter() - started
    if report.errors:
        shown = "\n".join(report.errors[:20])
        more = f"\n... and {len(report.errors) - 20} more" if len(report.errors) > 20 else ""
        raise CorpusError(
            f"{input}: {len(report.errors)} unreadable lines were skipped "
            f"({report.written} documents written to {output}):\n{shown}{more}"
        )
    return report
