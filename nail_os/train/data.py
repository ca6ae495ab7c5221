"""Training data: BEIR folders in, stage-1 self-supervised pairs and stage-2 supervised examples out.

Stage 1 (NAIL, arXiv 2305.14499, section 4.1, after Lee et al. 2019 and Izacard et al. 2021) needs no labels:
- inverse cloze (ICT): one sentence of a document is the query, the rest of the document (that sentence
  removed) is the passage;
- independent cropping: two disjoint word spans of one document, a short one as the query, a longer one as
  the passage (disjoint so the model cannot win by copying the query's exact tokens).
Stage 2 uses qrels train splits: a query, one positive and BM25 hard negatives (positives excluded).

Text is title + " " + text, as BEIR's baselines build it. No torch here except in `query_matrix`,
which builds the query tensor the loop scores with (`model.encode.batch_tensors` pads the documents).
"""

from __future__ import annotations

import dataclasses
import random
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from nail_os.corpus import CorpusError, qrels_splits, read_documents, read_qrels, read_queries

if TYPE_CHECKING:
    import torch
    from tokenizers import Tokenizer as HFTokenizer


class DataError(CorpusError):
    """A training dataset spec names neither a BEIR folder nor a JSONL file (bad files raise `CorpusError`)."""


# ---------------------------------------------------------------------------------------------- BEIR files
@dataclass
class BeirDataset:
    """One BEIR folder: documents in file order, queries by id, qrels by split."""

    name: str
    doc_ids: list[str]
    doc_texts: list[str]
    queries: dict[str, str]
    qrels: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)  # split -> qid -> did -> rel
    titles: list[str] | None = None  # per document, where the source has titles (headword pairs read them)

    @property
    def doc_index(self) -> dict[str, int]:
        return {d: i for i, d in enumerate(self.doc_ids)}


def load_beir(folder: str | Path) -> BeirDataset:
    """Read corpus.jsonl, queries.jsonl and every qrels/<split>.tsv of a BEIR folder (plain or gzip),
    through `nail_os.corpus`, the one reader of BEIR files (a bad line raises `CorpusError`)."""
    folder = Path(folder)
    doc_ids, doc_texts, titles = _documents(folder)
    qrels = {split: read_qrels(folder, split) for split in qrels_splits(folder)}
    return BeirDataset(folder.name, doc_ids, doc_texts, read_queries(folder), qrels, titles)


def _documents(path: Path) -> tuple[list[str], list[str], list[str]]:
    records = read_documents(path)
    return [str(r.doc_id) for r in records], [r.full_text for r in records], [r.title for r in records]


def load_corpus(spec: str | Path) -> BeirDataset:
    """A BEIR folder, or an unlabeled corpus: `folder/file` names one JSONL(.gz) file of documents
    (`debian-text/wordnet` reads debian-text/wordnet.jsonl.gz), with no queries and no qrels.

    Unlabeled files are loaded one by one so that each keeps its own statistics (IDF) and its own batches,
    as a user's collection would.
    """
    path = Path(spec)
    if path.is_dir():
        return load_beir(path)
    for candidate in (path, path.with_name(path.name + ".jsonl"), path.with_name(path.name + ".jsonl.gz")):
        if candidate.is_file():
            doc_ids, doc_texts, titles = _documents(candidate)
            return BeirDataset(f"{path.parent.name}/{path.name}", doc_ids, doc_texts, {}, {}, titles)
    raise DataError(f"{path}: neither a BEIR folder nor a JSONL(.gz) file of documents")


# ---------------------------------------------------------------------------------------------- stage 1
# Sentence ends: ., ! or ? followed by a space and an upper-case letter or digit (abstracts, package text).
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\"'])")


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


@dataclass(frozen=True)
class Pair:
    """A query text and a passage text that share a source document (stage 1), or a labelled pair."""

    query: str
    passage: str
    kind: str
    source: str = ""  # the corpus it came from: its IDF weights the query, and batches stay within it


def ict_pair(text: str, rng: random.Random, min_sentences: int = 3) -> Pair | None:
    """Inverse cloze: a random sentence as the query, the other sentences (in order) as the passage.

    The sentence is always removed from the passage (Lee et al. keep it 10% of the time; an inference-free
    query matches by exact tokens, so a kept sentence would be a free lexical match).
    """
    sentences = split_sentences(text)
    if len(sentences) < min_sentences:
        return None
    pick = rng.randrange(len(sentences))
    if len(sentences[pick].split()) < 4:
        return None
    passage = " ".join(s for i, s in enumerate(sentences) if i != pick)
    return Pair(sentences[pick], passage, "ict")


def crop_pair(
    text: str,
    rng: random.Random,
    query_words: tuple[int, int] = (4, 16),
    passage_words: tuple[int, int] = (32, 160),
) -> Pair | None:
    """Two disjoint word spans of `text`: a short query span and a longer passage span beside it.

    The document is cut at a random word; the query comes from one side of the cut and the passage from
    the other, so the spans never overlap (unlike Contriever's independent crops, which may).
    """
    words = text.split()
    if len(words) < query_words[0] + passage_words[0]:
        return None
    cut = rng.randrange(query_words[0], len(words) - query_words[0] + 1)
    left, right = words[:cut], words[cut:]
    # The query takes the side that leaves the passage more room, or a coin flip when both are long.
    if len(left) >= passage_words[0] and len(right) >= passage_words[0]:
        query_side, passage_side = (left, right) if rng.random() < 0.5 else (right, left)
    elif len(left) >= len(right):
        query_side, passage_side = right, left
    else:
        query_side, passage_side = left, right
    if len(query_side) < query_words[0] or len(passage_side) < min(passage_words[0], 16):
        return None
    q_len = rng.randint(query_words[0], min(query_words[1], len(query_side)))
    q_start = rng.randrange(len(query_side) - q_len + 1)
    p_len = rng.randint(min(passage_words[0], len(passage_side)), min(passage_words[1], len(passage_side)))
    p_start = rng.randrange(len(passage_side) - p_len + 1)
    query = " ".join(query_side[q_start : q_start + q_len])
    passage = " ".join(passage_side[p_start : p_start + p_len])
    return Pair(query, passage, "crop")


def headword_pair(title: str, text: str, min_words: int = 6) -> Pair | None:
    """A title as the query, the document without it as the passage: a dictionary headword and its
    definition, a WordNet lemma and its gloss, a manual page's name and a section of it.

    The passage rarely holds the query's words, so the pair teaches expansion: which tokens a document
    should weigh that it never says.
    """
    title = title.strip()
    if len(title) < 3 or len(title.split()) > 12:
        return None
    body = text.strip()
    if body.lower().startswith(title.lower()):  # a dictionary entry repeats its headword first
        body = body[len(title) :].lstrip(" .,:;-")
    if len(body.split()) < min_words:
        return None
    return Pair(title, body, "headword")


def build_stage1_pairs(
    texts: Sequence[str],
    rng: random.Random,
    *,
    ict: bool = True,
    crop: bool = True,
    titles: Sequence[str] | None = None,
    source: str = "",
) -> list[Pair]:
    """One ICT, one cropping and (with `titles`) one headword pair per document where the document allows,
    shuffled. `titles[i]` is document i's title; `texts[i]` its title + text."""
    pairs: list[Pair] = []
    for i, text in enumerate(texts):
        made = [ict_pair(text, rng) if ict else None, crop_pair(text, rng) if crop else None]
        if titles is not None and titles[i]:
            made.append(headword_pair(titles[i], text[len(titles[i]) :]))
        pairs += [dataclasses.replace(p, source=source) for p in made if p is not None]
    rng.shuffle(pairs)
    return pairs


def pseudo_labelled(name: str, pairs: Sequence[Pair], num_queries: int = 0) -> BeirDataset:
    """Stage-1 pairs as a labelled set: every passage a document, the first `num_queries` queries (0: all)
    judged relevant to their own passage.

    Stage 2 then treats unlabeled text like a training split: BM25 mines hard negatives among all the passages
    and the teachers score them, so distillation reaches far more text than the few labelled queries.
    """
    doc_ids = [f"p{i}" for i in range(len(pairs))]
    judged = range(min(num_queries or len(pairs), len(pairs)))
    queries = {f"q{i}": pairs[i].query for i in judged}
    qrels = {"pseudo": {f"q{i}": {f"p{i}": 1} for i in judged}}
    return BeirDataset(name, doc_ids, [p.passage for p in pairs], queries, qrels)


# ---------------------------------------------------------------------------------------------- stage 2
@dataclass
class Stage2Query:
    """One training query: its positives and BM25 candidates (global doc rows), with teacher scores.

    `candidates` holds the positives first, then the hard negatives; `teacher` (if set) has one row per
    teacher with a score for each candidate, shape (num_teachers, len(candidates)).
    """

    dataset: str
    query: str
    positives: list[int]
    negatives: list[int]
    teacher: np.ndarray | None = None
    bm25: np.ndarray | None = None  # BM25 score of each candidate, when BM25 is one of the teachers

    @property
    def candidates(self) -> list[int]:
        return self.positives + self.negatives


@dataclass
class DocPool:
    """All stage-2 documents in one list; each dataset's rows are a contiguous range."""

    texts: list[str] = field(default_factory=list)
    offsets: dict[str, int] = field(default_factory=dict)

    def add(self, dataset: BeirDataset) -> int:
        self.offsets[dataset.name] = len(self.texts)
        self.texts.extend(dataset.doc_texts)
        return self.offsets[dataset.name]


def build_stage2_queries(
    dataset: BeirDataset,
    split: str,
    offset: int,
    bm25_top: np.ndarray,
    query_ids: Sequence[str],
    negatives: int = 30,
    rng: random.Random | None = None,
) -> list[Stage2Query]:
    """Stage-2 queries of one dataset split with up to `negatives` BM25 hard negatives each.

    Args:
        bm25_top: BM25 top document rows (dataset-local), one row per id in `query_ids`, best first.
        negatives: how many top-ranked non-positive documents to keep (sampled from at each step).
    """
    index = dataset.doc_index
    rng = rng or random.Random(0)
    out = []
    qrels = dataset.qrels[split]
    for row, qid in enumerate(query_ids):
        pos_local = [index[d] for d, rel in qrels[qid].items() if rel > 0 and d in index]
        if not pos_local:
            continue
        pos_set = set(pos_local)
        negs = [int(d) for d in bm25_top[row] if d >= 0 and int(d) not in pos_set][:negatives]
        # Too few BM25 hits (a query of rare words): random documents fill up, never a positive.
        tries = 0
        while len(negs) < min(negatives, len(index) - len(pos_set)) and tries < 10 * negatives:
            tries += 1
            d = rng.randrange(len(index))
            if d not in pos_set and d not in negs:
                negs.append(d)
        out.append(
            Stage2Query(
                dataset.name,
                dataset.queries[qid],
                [offset + p for p in pos_local],
                [offset + n for n in negs],
            )
        )
    return out


# ---------------------------------------------------------------------------------------------- tokens
def query_tokenizer(tokenizer_json: str) -> HFTokenizer:
    from tokenizers import Tokenizer as HFTokenizer

    tok = HFTokenizer.from_str(tokenizer_json)
    tok.no_padding()
    tok.no_truncation()
    return tok


def query_bags(
    tok: HFTokenizer, texts: Sequence[str], special_ids: frozenset[int] | set[int]
) -> list[Counter[int]]:
    """Token id -> count for each query, special tokens dropped (as `nail_os.tokens.tokenize_query`)."""
    return [
        Counter(i for i in enc.ids if i not in special_ids)
        for enc in tok.encode_batch(list(texts), add_special_tokens=False)
    ]


def token_document_frequency(tok: HFTokenizer, texts: Sequence[str], vocab_size: int, batch: int = 2048) -> np.ndarray:
    """How many of `texts` contain each token id, shape (vocab_size,)."""
    df = np.zeros(vocab_size, dtype=np.int64)
    for start in range(0, len(texts), batch):
        for enc in tok.encode_batch(list(texts[start : start + batch]), add_special_tokens=False):
            df[np.unique(np.asarray(enc.ids, dtype=np.int64))] += 1
    return df


def idf_weights(df: np.ndarray, num_docs: int, special_ids: Sequence[int]) -> np.ndarray:
    """BM25's idf ln(1 + (N - df + 0.5) / (df + 0.5)) per token, 0 for special tokens, shape (V,).

    Used as the inference-free query side (arXiv 2411.04403, section 3.1): common tokens count little
    in the score, so FLOPS can prune them from documents without hurting ranking.
    """
    idf = np.log1p((num_docs - df + 0.5) / (df + 0.5)).astype(np.float32)
    idf[list(special_ids)] = 0.0
    return idf


def query_matrix(
    bags: Sequence[Counter[int]], weights: torch.Tensor, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """Dense query side (B, V): count × query weight at each token, the inference-free query vector."""
    import torch

    rows, cols, vals = [], [], []
    for row, bag in enumerate(bags):
        for token, count in bag.items():
            rows.append(row)
            cols.append(token)
            vals.append(float(count))
    q = torch.zeros((len(bags), weights.shape[0]), dtype=torch.float32)
    if rows:
        q[torch.as_tensor(rows), torch.as_tensor(cols)] = torch.as_tensor(vals)
    return q.to(device) * weights.to(device)[None, :]  # shape (B, V)
