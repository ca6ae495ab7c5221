"""Query weights from the searched index's own statistics: IDF of each model token over its documents.

A NAIL query is only tokenized, so how much each query token counts is the one thing the query side can
adapt to a collection. BM25 takes its IDF from the index it searches; so do we. Every document the kit
indexes also gets `<nail field>_tokens`: a `keyword` field holding the distinct token ids of its text
(title + text, the model's tokenizer, no truncation, no special tokens). Lucene keeps its document
frequencies right through updates, deletes and any number of ingest runs, per shard, as it does for BM25.
A query reads them with one `_termvectors` request on an artificial document (a term-dictionary lookup per
token, no posting list is read) and weighs each token by BM25's idf, `ln(1 + (N - df + 0.5) / (df + 0.5))`,
the formula the model was trained with (`nail_os.train.data.idf_weights`).

Statistics are cached per index for `ttl` seconds, so a steady stream of queries costs one lookup per new
token a minute, not one per query. An index without the field (created by another tool, or by an older
nail-os) has no statistics: queries then use the model's own `query_weights.json`.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from nail_os.engines import Client, engine_of
from nail_os.tokens import Tokenizer

TOKENS_SUFFIX = "_tokens"
DEFAULT_TTL = 60.0  # seconds a document frequency is trusted: new documents shift IDF slowly
_LOOKUPS_PER_REQUEST = 8192  # terms of one artificial document: the whole vocabulary takes 4 requests


def tokens_field(nail_field: str) -> str:
    """The keyword field beside `nail_field` that holds each document's distinct token ids."""
    return nail_field + TOKENS_SUFFIX


def document_tokens(tokenizer: Tokenizer, texts: Sequence[str]) -> list[list[str]]:
    """The distinct token ids of each text, as the decimal strings `<nail field>_tokens` stores, sorted."""
    special = tokenizer.special_ids
    encodings = tokenizer.hf.encode_batch(list(texts), add_special_tokens=False)
    return [[str(i) for i in sorted(set(e.ids) - special)] for e in encodings]


def idf(doc_freq: int, num_docs: int) -> float:
    """BM25's idf (Lucene's, always > 0): rarer tokens weigh more."""
    return math.log1p((num_docs - doc_freq + 0.5) / (doc_freq + 0.5))


@dataclass
class IndexStatistics:
    """Document frequencies of model tokens in one index, read from the engine and cached.

    >>> stats = IndexStatistics(client, "scifact")  # doctest: +SKIP
    >>> stats.weights([1057, 2003])  # doctest: +SKIP
    {1057: 4.12, 2003: 0.31}
    """

    client: Client
    index: str
    nail_field: str = "nail"
    ttl: float = DEFAULT_TTL
    _doc_freq: dict[int, tuple[int, float]] = field(default_factory=dict, repr=False)  # token -> (df, read at)
    _num_docs: tuple[int, float] | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def weights(self, token_ids: Iterable[int]) -> dict[int, float] | None:
        """idf of each token over the index, or None when the index keeps no token statistics."""
        ids = sorted(set(token_ids))
        if not ids:
            return {}
        now = time.monotonic()
        with self._lock:
            stale = [t for t in ids if t not in self._doc_freq or now - self._doc_freq[t][1] > self.ttl]
            if stale or self._num_docs is None or now - self._num_docs[1] > self.ttl:
                self._read(stale or ids[:1], now)
            if self._num_docs is None or self._num_docs[0] == 0:
                return None
            n = self._num_docs[0]
            return {t: idf(self._doc_freq[t][0], n) for t in ids}

    def vocabulary_weights(self, tokenizer: Tokenizer) -> dict[int, float] | None:
        """idf of every non-special token of `tokenizer`'s vocabulary over the index (a few requests), or None."""
        return self.weights(i for i in range(tokenizer.vocab_size) if i not in tokenizer.special_ids)

    def _read(self, ids: Sequence[int], now: float) -> None:
        for start in range(0, len(ids), _LOOKUPS_PER_REQUEST):
            self._read_some(ids[start : start + _LOOKUPS_PER_REQUEST], now)

    def _read_some(self, ids: Sequence[int], now: float) -> None:
        """One `_termvectors` request: the field's document count and the document frequency of `ids`."""
        name = tokens_field(self.nail_field)
        body = {
            "doc": {name: [str(t) for t in ids]},
            "fields": [name],
            "term_statistics": True,
            "field_statistics": True,
            "positions": False,
            "offsets": False,
            "payloads": False,
        }
        if engine_of(self.client).NAME == "elasticsearch":  # elasticsearch-py 8 takes the body as arguments
            answer = self.client.termvectors(index=self.index, **body).body
        else:
            answer = self.client.termvectors(index=self.index, body=body)
        # No such field (an index without statistics) reads as no documents, cached like any answer.
        vectors = answer.get("term_vectors", {}).get(name) or {}
        self._num_docs = (int(vectors.get("field_statistics", {}).get("doc_count", 0)), now)
        terms = vectors.get("terms", {})
        for t in ids:
            self._doc_freq[t] = (int(terms.get(str(t), {}).get("doc_freq", 0)), now)


_CACHE: dict[tuple[int, str, str], IndexStatistics] = {}
_CACHE_LOCK = threading.Lock()


def index_statistics(client: Client, index: str, nail_field: str = "nail") -> IndexStatistics:
    """The shared, cached statistics of `index` for `client` (one per client, index and field)."""
    key = (id(client), index, nail_field)
    with _CACHE_LOCK:
        if key not in _CACHE or _CACHE[key].client is not client:
            _CACHE[key] = IndexStatistics(client, index, nail_field)
        return _CACHE[key]
