"""A synthetic corpus of any size with the statistics of a real encoded one, for latency and scale tests.

`fit_profile` reads a few thousand real documents that an encoder has already turned into
`{token: weight}` (e.g. `encode_corpus("splade-tiny", "scifact/", ...)`) and keeps what decides the cost of
an index and of its queries:

- each token's document frequency in the NAIL field (the length of its posting list),
- each token's own observed weights (what the postings store: FeatureField keeps the weight as a term
  frequency, so the values decide how well postings compress),
- each document's feature count, word count of title and text (templates: a long synthetic document has
  both many features and many words, as a real one does),
- the word unigram distribution of the text (Zipf's law: what BM25's posting lists look like).

`generate_records` then writes pre-encoded `nail_os.corpus.Record`s (features + title + text) in blocks of
`BLOCK_DOCS`; block b is drawn from its own seed, so any slice of the corpus can be made alone and in
parallel, and the same (profile, seed) always gives the same documents.

How a block is drawn: token t goes into Binomial(B, df_t) documents, a rare token's chosen with probability
proportional to their template's feature count (long documents get more tokens), a frequent token's uniformly
without replacement (so its df is kept exactly); duplicates are merged and
a document keeps at most `profile.max_features` (the encoder's top-k) of its largest weights. Text words are
drawn from the unigram distribution, as many as the template had. Words are independent of the features:
posting-list lengths, not topical coherence, set what a query costs.

>>> profile = fit_profile(records, tokenizer)  # doctest: +SKIP
>>> next(generate_records(profile, tokenizer, 3)).features  # doctest: +SKIP
{'cell': 1.23, '##ase': 0.41, ...}
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nail_os.corpus import Record
from nail_os.errors import NailOSError
from nail_os.tokens import Tokenizer

# Documents drawn per block: ~1.5 M postings of scifact-like documents, a few tens of MB of numpy arrays.
BLOCK_DOCS = 10_000
# Tokens in at least this fraction of documents are spread without replacement (see `_block`); under it,
# duplicates drawn with replacement cost a token under ~2.5% of its df.
FREQUENT_DF = 0.05
_WORD = re.compile(r"\w+", re.UNICODE)


class ProfileError(NailOSError, ValueError):
    """Records that cannot be profiled (no features, unknown tokens)."""


@dataclass
class CorpusProfile:
    """What `generate_records` reproduces; `save`/`load` keep it as one .npz file."""

    n_docs: int  # real documents profiled
    token_ids: np.ndarray  # (T,) int32, tokens seen as features
    df: np.ndarray  # (T,) float64, fraction of documents holding each token
    pool_offsets: np.ndarray  # (T+1,) int64, token t's observed weights are pool[offsets[t]:offsets[t+1]]
    pool: np.ndarray  # (P,) float32
    feature_counts: np.ndarray  # (n_docs,) int32, templates
    title_words: np.ndarray  # (n_docs,) int32
    text_words: np.ndarray  # (n_docs,) int32
    words: np.ndarray  # (W,) str, by decreasing frequency
    word_cdf: np.ndarray  # (W,) float64
    max_features: int  # the most features one real document had (the encoder's top-k)

    def save(self, path: str | Path) -> None:
        np.savez_compressed(path, **{k: np.asarray(v) for k, v in vars(self).items()})

    @classmethod
    def load(cls, path: str | Path) -> CorpusProfile:
        with np.load(path, allow_pickle=False) as data:
            values = {k: data[k] for k in data.files}
        values["n_docs"] = int(values["n_docs"])
        values["max_features"] = int(values["max_features"])
        return cls(**values)

    def summary(self) -> dict[str, float | int]:
        """Means of the real documents: features, words, distinct feature tokens and words."""
        return {"docs": self.n_docs, "features_mean": float(self.feature_counts.mean()),
                "title_words_mean": float(self.title_words.mean()), "text_words_mean": float(self.text_words.mean()),
                "feature_tokens": int(self.token_ids.size), "distinct_words": int(self.words.size),
                "max_features": self.max_features}


def fit_profile(records: Iterable[Record], tokenizer: Tokenizer) -> CorpusProfile:
    """The profile of pre-encoded records (`features` set, `title`/`text` as read from the corpus)."""
    per_token: dict[int, list[float]] = {}
    feature_counts: list[int] = []
    title_words: list[int] = []
    text_words: list[int] = []
    word_freq: Counter[str] = Counter()
    for record in records:
        if not record.features:
            raise ProfileError(f"{record.where} has no features: profile records that an encoder has encoded")
        for token, weight in record.features.items():
            token_id = tokenizer.token_to_id(token)
            if token_id is None:
                raise ProfileError(f"{record.where} token {token!r} is not in the tokenizer's vocabulary")
            if weight > 0:
                per_token.setdefault(token_id, []).append(float(weight))
        feature_counts.append(len(record.features))
        title, text = _WORD.findall(record.title.lower()), _WORD.findall(record.text.lower())
        title_words.append(len(title))
        text_words.append(len(text))
        word_freq.update(title)
        word_freq.update(text)
    if not feature_counts or not word_freq:
        raise ProfileError("no records with features and words to profile")
    token_ids = np.asarray(sorted(per_token), dtype=np.int32)
    lengths = np.asarray([len(per_token[t]) for t in token_ids.tolist()], dtype=np.int64)
    common = word_freq.most_common()
    counts = np.asarray([c for _, c in common], dtype=np.float64)
    return CorpusProfile(
        n_docs=len(feature_counts), token_ids=token_ids, df=lengths / len(feature_counts),
        pool_offsets=np.concatenate([[0], np.cumsum(lengths)]),
        pool=np.asarray([w for t in token_ids.tolist() for w in per_token[t]], dtype=np.float32),
        feature_counts=np.asarray(feature_counts, dtype=np.int32),
        title_words=np.asarray(title_words, dtype=np.int32), text_words=np.asarray(text_words, dtype=np.int32),
        words=np.asarray([w for w, _ in common]), word_cdf=np.cumsum(counts) / counts.sum(),
        max_features=int(max(feature_counts)),
    )


def generate_records(
    profile: CorpusProfile, tokenizer: Tokenizer, stop: int, *, start: int = 0, seed: int = 0,
    id_prefix: str = "syn",
) -> Iterator[Record]:
    """Documents `start` ... `stop - 1` of the synthetic corpus `(profile, seed)`, ids `f"{id_prefix}{i}"`.

    `start` must be a multiple of `BLOCK_DOCS` (a block is the unit of reproducibility); `stop` may be any.
    """
    if start % BLOCK_DOCS:
        raise ValueError(f"start {start} must be a multiple of BLOCK_DOCS ({BLOCK_DOCS})")
    vocab = np.asarray([tokenizer.id_to_token(int(t)) for t in profile.token_ids], dtype=object)
    for block_start in range(start, stop, BLOCK_DOCS):
        size = min(BLOCK_DOCS, stop - block_start)
        yield from _block(profile, vocab, block_start, size, seed, id_prefix)


def _block(profile: CorpusProfile, vocab: np.ndarray, first: int, size: int, seed: int,
           id_prefix: str) -> Iterator[Record]:
    rng = np.random.default_rng([seed, first // BLOCK_DOCS])
    templates = rng.integers(0, profile.n_docs, size=size)  # (B,)
    want = profile.feature_counts[templates].astype(np.float64)  # (B,)
    # token t lands in Binomial(B, df_t) documents, picked in proportion to their template's feature count
    per_token = rng.binomial(size, profile.df)  # (T,)
    n_tokens = profile.token_ids.size
    # Rare tokens: documents drawn with replacement in proportion to their template's feature count (a
    # duplicate is rare and merged). Frequent ones (df >= FREQUENT_DF) would lose much of their df to
    # duplicates, so they are spread over distinct documents, uniformly.
    rare = profile.df < FREQUENT_DF
    tokens = np.repeat(np.flatnonzero(rare), per_token[rare])  # (N,)
    docs = np.searchsorted(np.cumsum(want) / want.sum(), rng.random(tokens.size), side="right")  # (N,)
    frequent = np.flatnonzero(~rare)
    spread = [rng.choice(size, int(per_token[t]), replace=False) for t in frequent.tolist()]
    tokens = np.concatenate([tokens, np.repeat(frequent, per_token[frequent])])
    docs = np.concatenate([np.minimum(docs, size - 1), *spread]).astype(np.int64)
    keys = np.sort(docs * n_tokens + tokens)  # sorted by document; duplicates merged below
    keys = keys[np.concatenate([[True], keys[1:] != keys[:-1]])]  # np.unique's hash path is 10x slower here
    docs, tokens = keys // n_tokens, keys % n_tokens
    starts, ends = profile.pool_offsets[tokens], profile.pool_offsets[tokens + 1]
    weights = profile.pool[starts + (rng.random(tokens.size) * (ends - starts)).astype(np.int64)]  # (N,)
    weights = np.round(weights.astype(np.float64), 4)  # as encode_corpus writes them (DEFAULT_DECIMALS)
    bounds = np.searchsorted(docs, np.arange(size + 1))
    n_words = profile.title_words[templates] + profile.text_words[templates]
    drawn = np.searchsorted(profile.word_cdf, rng.random(int(n_words.sum())), side="right")
    words = profile.words[np.minimum(drawn, profile.words.size - 1)].tolist()
    word_at = 0
    names, values = vocab[tokens].tolist(), weights.tolist()  # one conversion per block, not per document
    for row in range(size):
        lo, hi = int(bounds[row]), int(bounds[row + 1])
        if hi - lo > profile.max_features:  # the encoder's top-k: keep the largest weights
            keep = lo + np.argpartition(-weights[lo:hi], profile.max_features)[: profile.max_features]
            features = {names[i]: values[i] for i in keep.tolist()}
        else:
            features = dict(zip(names[lo:hi], values[lo:hi], strict=True))
        if not features:  # a near-empty template drew no token: give it the most common one
            top = int(np.argmax(profile.df))
            features = {str(vocab[top]): float(profile.pool[profile.pool_offsets[top]])}
        n_title = int(profile.title_words[templates[row]])
        n_text = int(profile.text_words[templates[row]])
        title = " ".join(words[word_at: word_at + n_title])
        text = " ".join(words[word_at + n_title: word_at + n_title + n_text])
        word_at += n_title + n_text
        doc = first + row
        yield Record(source="synthetic", line=doc + 1, doc_id=f"{id_prefix}{doc}", title=title, text=text,
                     features=features)
