"""The synthetic corpus keeps the profiled statistics and is reproducible block by block."""

from __future__ import annotations

import numpy as np
import pytest

from nail_os.corpus import Record
from nail_os.evaluation.synthetic import BLOCK_DOCS, CorpusProfile, ProfileError, fit_profile, generate_records
from nail_os.registry import resolve_model_dir
from nail_os.tokens import Tokenizer


@pytest.fixture(scope="module")
def tokenizer() -> Tokenizer:
    return Tokenizer.from_model_dir(resolve_model_dir("splade-tiny"))


def _records() -> list[Record]:
    # "coffee" is in every document, "tea" in half, "beans" in a quarter: df 1, 0.5, 0.25.
    out = []
    for i in range(8):
        features = {"coffee": 2.0 + i / 10}
        if i % 2 == 0:
            features["tea"] = 1.5
        if i % 4 == 0:
            features["beans"] = 0.5
        out.append(Record(source="t", line=i + 1, doc_id=str(i), title="Coffee", text="coffee and tea " * (i + 1),
                          features=features))
    return out


def test_profile_counts_document_frequencies_and_words(tokenizer):
    profile = fit_profile(_records(), tokenizer)
    df = {tokenizer.id_to_token(int(t)): d for t, d in zip(profile.token_ids, profile.df, strict=True)}
    assert df == {"coffee": 1.0, "tea": 0.5, "beans": 0.25}
    assert profile.words[0] == "coffee"  # title + text: the most frequent word comes first
    assert profile.max_features == 3


def test_generated_corpus_keeps_df_and_weights_from_the_pool(tokenizer):
    profile = fit_profile(_records(), tokenizer)
    docs = list(generate_records(profile, tokenizer, 4000, seed=1))
    assert len(docs) == 4000 and len({d.doc_id for d in docs}) == 4000
    tea = sum("tea" in d.features for d in docs) / len(docs)
    beans = sum("beans" in d.features for d in docs) / len(docs)
    # Binomial(4000, df) distinct documents per token (frequent tokens are drawn without replacement).
    assert 0.47 < tea < 0.53 and 0.22 < beans < 0.28
    assert all(d.features.get("beans", 0.5) == 0.5 for d in docs)  # weights come from the token's own pool
    assert all(set(d.text.split()) <= {"coffee", "and", "tea"} for d in docs)


def test_a_slice_is_the_same_as_in_the_whole_corpus(tokenizer, tmp_path):
    profile = fit_profile(_records(), tokenizer)
    profile.save(tmp_path / "p.npz")
    loaded = CorpusProfile.load(tmp_path / "p.npz")
    whole = list(generate_records(profile, tokenizer, BLOCK_DOCS + 5, seed=3))
    tail = list(generate_records(loaded, tokenizer, BLOCK_DOCS + 5, start=BLOCK_DOCS, seed=3))
    assert [(r.doc_id, r.features, r.text) for r in whole[BLOCK_DOCS:]] == [(r.doc_id, r.features, r.text)
                                                                          for r in tail]


def test_records_without_features_are_refused(tokenizer):
    with pytest.raises(ProfileError, match="has no features"):
        fit_profile([Record(source="c.jsonl", line=3, doc_id="x", text="a")], tokenizer)


def test_start_must_be_a_block_boundary(tokenizer):
    profile = fit_profile(_records(), tokenizer)
    with pytest.raises(ValueError, match="multiple of BLOCK_DOCS"):
        next(generate_records(profile, tokenizer, 10, start=3))
    assert np.isclose(profile.word_cdf[-1], 1.0)
