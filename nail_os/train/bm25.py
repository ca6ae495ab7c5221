"""In-process BM25 over scipy sparse matrices: hard negatives for training and a reference for model selection.

The analyzer mimics OpenSearch's `standard` one closely enough for a reference number: lowercase, split on
Unicode word characters, no stemming, no stop words. Scoring is Lucene's BM25 (k1=1.2, b=0.75, OpenSearch's
defaults; idf = ln(1 + (N - df + 0.5) / (df + 0.5))). The official BM25 numbers come from OpenSearch itself
through `nail-os eval`; this one only ranks training negatives and puts NAIL's dev numbers in context.

>>> index = BM25Index.build(["the cat sat", "a dog barked", "cat and dog"])
>>> [int(i) for i in index.search(["cat dog"], k=2)[0][0]]
[2, 0]
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

# Unicode "word" runs, as Lucene's StandardTokenizer roughly splits (it also keeps e.g. "3.5" whole; rare here).
_WORD = re.compile(r"\w+", re.UNICODE)


def analyze(text: str) -> list[str]:
    """Lowercased word tokens of `text`."""
    return _WORD.findall(text.lower())


@dataclass
class BM25Index:
    """Documents as a (num_docs, num_terms) CSR matrix of BM25 term weights; a query is a term-count row."""

    vocab: dict[str, int]
    weights: sp.csr_matrix  # shape (num_docs, num_terms)

    @classmethod
    def build(cls, texts: Sequence[str], k1: float = 1.2, b: float = 0.75) -> BM25Index:
        vocab: dict[str, int] = {}
        rows, cols = [], []
        for row, text in enumerate(texts):
            for term in analyze(text):
                cols.append(vocab.setdefault(term, len(vocab)))
                rows.append(row)
        ones = np.ones(len(rows), dtype=np.float32)
        tf = sp.csr_matrix((ones, (rows, cols)), shape=(len(texts), max(len(vocab), 1)))
        tf.sum_duplicates()  # now each stored value is a term frequency
        doc_len = np.asarray(tf.sum(axis=1)).ravel()  # shape (num_docs,)
        avg_len = float(doc_len.mean()) if len(texts) else 1.0
        df = np.bincount(tf.indices, minlength=tf.shape[1])  # shape (num_terms,)
        n = len(texts)
        idf = np.log1p((n - df + 0.5) / (df + 0.5)).astype(np.float32)  # Lucene's BM25 idf, always > 0
        norm = k1 * (1.0 - b + b * doc_len / max(avg_len, 1e-9))  # shape (num_docs,)
        data = tf.data.copy()
        per_row = np.repeat(norm, np.diff(tf.indptr))
        data = data * (k1 + 1.0) / (data + per_row) * idf[tf.indices]
        weights = sp.csr_matrix((data.astype(np.float32), tf.indices, tf.indptr), shape=tf.shape)
        return cls(vocab=vocab, weights=weights)

    def query_matrix(self, queries: Sequence[str]) -> sp.csr_matrix:
        """(num_queries, num_terms) term counts; unknown terms are dropped (they match nothing)."""
        rows, cols = [], []
        for row, text in enumerate(queries):
            for term in analyze(text):
                col = self.vocab.get(term)
                if col is not None:
                    rows.append(row)
                    cols.append(col)
        data = np.ones(len(rows), dtype=np.float32)
        q = sp.csr_matrix((data, (rows, cols)), shape=(len(queries), self.weights.shape[1]))
        q.sum_duplicates()
        return q

    def scores(self, queries: Sequence[str]) -> sp.csr_matrix:
        """(num_queries, num_docs) BM25 scores, zero where no term matches."""
        return (self.query_matrix(queries) @ self.weights.T).tocsr()

    def pair_scores(self, queries: Sequence[str], doc_rows: Sequence[Sequence[int]]) -> list[np.ndarray]:
        """BM25 score of each query against each of its own documents: `doc_rows[i]` for `queries[i]`."""
        q = self.query_matrix(queries)
        pair_q = np.repeat(np.arange(len(queries)), [len(r) for r in doc_rows])
        pair_d = np.asarray([d for rows in doc_rows for d in rows], dtype=np.int64)
        if len(pair_d) == 0:
            return [np.zeros(0, dtype=np.float32) for _ in doc_rows]
        flat = np.asarray(q[pair_q].multiply(self.weights[pair_d]).sum(axis=1), dtype=np.float32).ravel()
        return np.split(flat, np.cumsum([len(r) for r in doc_rows])[:-1])

    def search(self, queries: Sequence[str], k: int = 100, chunk: int = 512) -> tuple[np.ndarray, np.ndarray]:
        """Top-`k` doc rows and scores per query, best first, shape (num_queries, k) each.

        Queries go `chunk` at a time: on 42k Debian descriptions a query of common words matches
        thousands of documents, and all 42k queries at once would hold billions of scores.
        Rows beyond the matching documents are padded with index -1 and score 0.
        """
        idx = np.full((len(queries), k), -1, dtype=np.int64)
        val = np.zeros((len(queries), k), dtype=np.float32)
        for start in range(0, len(queries), chunk):
            part = self.scores(queries[start : start + chunk]).toarray()  # shape (chunk, num_docs)
            i, v = top_k_rows(part, k)
            i[v <= 0] = -1  # a zero score is no match
            idx[start : start + chunk], val[start : start + chunk] = i, np.maximum(v, 0)
        return idx, val


def top_k_rows(scores: sp.csr_matrix | np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Best `k` columns of each row of a sparse or dense score matrix; -1 pads rows with fewer hits."""
    n = scores.shape[0]
    idx = np.full((n, k), -1, dtype=np.int64)
    val = np.zeros((n, k), dtype=np.float32)
    if isinstance(scores, np.ndarray):
        kk = min(k, scores.shape[1])
        part = np.argpartition(-scores, kk - 1, axis=1)[:, :kk]  # shape (n, kk), unordered
        part_val = np.take_along_axis(scores, part, axis=1)
        order = np.argsort(-part_val, axis=1, kind="stable")
        idx[:, :kk] = np.take_along_axis(part, order, axis=1)
        val[:, :kk] = np.take_along_axis(part_val, order, axis=1)
        return idx, val
    scores = scores.tocsr()
    for row in range(n):
        start, end = scores.indptr[row], scores.indptr[row + 1]
        cols, data = scores.indices[start:end], scores.data[start:end]
        keep = data > 0
        cols, data = cols[keep], data[keep]
        if len(data) > k:
            sel = np.argpartition(-data, k - 1)[:k]
            cols, data = cols[sel], data[sel]
        order = np.argsort(-data, kind="stable")
        idx[row, : len(order)] = cols[order]
        val[row, : len(order)] = data[order]
    return idx, val
