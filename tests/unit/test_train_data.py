"""Stage-1 pair builders, stage-2 examples and the in-process BM25, on hand-made text."""

from __future__ import annotations

import random

import numpy as np
import pytest

from nail_os.train.bm25 import BM25Index, analyze, top_k_rows
from nail_os.train.data import (
    BeirDataset,
    build_stage1_pairs,
    build_stage2_queries,
    crop_pair,
    ict_pair,
    idf_weights,
    split_sentences,
)

ABSTRACT = (
    "Vitamin D deficiency is common in older adults. It is associated with lower bone mineral density. "
    "We measured serum levels in 400 patients over two years. Supplementation raised density at the hip. "
    "No effect was seen on fracture rates in this cohort."
)


def test_split_sentences():
    assert len(split_sentences(ABSTRACT)) == 5


@pytest.mark.parametrize("seed", range(20))
def test_ict_query_sentence_is_removed_from_passage(seed):
    pair = ict_pair(ABSTRACT, random.Random(seed))
    assert pair is not None and pair.kind == "ict"
    sentences = split_sentences(ABSTRACT)
    assert pair.query in sentences
    assert pair.query not in pair.passage
    assert len(split_sentences(pair.passage)) == len(sentences) - 1


def test_ict_needs_three_sentences():
    assert ict_pair("One sentence only. And a second one here.", random.Random(0)) is None


@pytest.mark.parametrize("seed", range(50))
def test_crop_spans_are_disjoint(seed):
    # Numbered words make every span's position in the document visible.
    text = " ".join(f"w{i}" for i in range(120))
    pair = crop_pair(text, random.Random(seed))
    assert pair is not None and pair.kind == "crop"
    q = {int(w[1:]) for w in pair.query.split()}
    p = {int(w[1:]) for w in pair.passage.split()}
    assert q and p and not q & p
    assert max(q) - min(q) + 1 == len(q)  # each span is contiguous
    assert max(p) - min(p) + 1 == len(p)
    assert 4 <= len(q) <= 16


def test_crop_skips_short_text():
    assert crop_pair("too short to crop", random.Random(0)) is None


def test_build_stage1_pairs_gives_both_kinds():
    long_text = ABSTRACT + " " + " ".join(f"filler{i}" for i in range(40))
    pairs = build_stage1_pairs([long_text, "short"], random.Random(1))
    assert sorted(p.kind for p in pairs) == ["crop", "ict"]


def test_bm25_ranks_matching_document_first():
    docs = ["the cat sat on the mat", "dogs bark at night", "a cat and a dog"]
    index = BM25Index.build(docs)
    idx, val = index.search(["cat mat"], k=3)
    assert idx[0, 0] == 0
    assert val[0, 0] > val[0, 1] > 0
    assert idx[0, 2] == -1  # "dogs bark at night" matches neither term


def test_bm25_idf_matches_lucene_formula():
    index = BM25Index.build(["cat", "dog", "dog"])
    # one-term docs of average length: weight = idf * (k1+1) * 1 / (1 + k1) = idf
    expected = np.log1p((3 - 1 + 0.5) / (1 + 0.5))
    assert index.weights[0, index.vocab["cat"]] == pytest.approx(expected, rel=1e-6)


def test_analyze_lowercases_and_splits_words():
    assert analyze("Vitamin-D, 25(OH)D levels") == ["vitamin", "d", "25", "oh", "d", "levels"]


def test_top_k_rows_pads_with_minus_one():
    idx, val = top_k_rows(np.array([[0.1, 0.9]]), 3)
    assert idx.tolist() == [[1, 0, -1]]
    assert val[0, :2].tolist() == pytest.approx([0.9, 0.1])


def test_stage2_negatives_exclude_positives():
    ds = BeirDataset(
        "toy",
        ["d0", "d1", "d2", "d3"],
        ["a", "b", "c", "d"],
        {"q1": "query"},
        {"train": {"q1": {"d1": 1, "d2": 1}}},
    )
    bm25_top = np.array([[1, 3, 2, 0]])
    (q,) = build_stage2_queries(ds, "train", offset=10, bm25_top=bm25_top, query_ids=["q1"], negatives=5)
    assert q.positives == [11, 12]
    assert q.negatives == [13, 10]  # BM25 order, positives skipped, dataset offset added
    assert q.candidates[:2] == q.positives


def test_idf_weights_zero_special_and_rare_tokens_high():
    df = np.array([0, 100, 1])
    idf = idf_weights(df, 100, special_ids=[0])
    assert idf[0] == 0.0
    assert idf[2] > idf[1] > 0
