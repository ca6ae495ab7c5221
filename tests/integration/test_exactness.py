"""The engine's NAIL ranking is the exact dot product of query tokens and document weights, on both engines.

A real corpus (SciFact) is encoded, ingested through the kit, and every query is run through the
engine and scored exhaustively in-process from the weights in the index. nail-os rounds weights to
the 9 significant bits `rank_features` (Elasticsearch: `sparse_vector`, the same FeatureField) keeps
before sending them, so the index holds exactly those weights; the in-process score follows Lucene's
arithmetic (float32 clause scores summed in double, then float32). The top 10 must be identical for
≥ 99% of queries. Documents with exactly equal scores may come in either order: Lucene breaks ties by
its internal doc id, which follows the corpus only until segment merges reorder documents (seen on
Elasticsearch), so a tie may swap, or decide which of two documents is 10th; no other difference counts.
"""

from __future__ import annotations

import numpy as np
import pytest

from nail_os.corpus import read_queries
from nail_os.documents import nail_features
from nail_os.features import to_feature_name
from nail_os.ingest import IngestOptions, ingest
from nail_os.mapping import create_index
from nail_os.queries import QueryOptions
from nail_os.search import Hit, index_query_weights, search

pytestmark = pytest.mark.integration


def exact_scores(query_tokens, docs: dict[str, dict[str, float]]) -> dict[str, np.float32]:
    """Exhaustive scoring of the indexed features in Lucene's float arithmetic (documents that match)."""
    scores = {}
    for doc_id, features in docs.items():
        clause_scores = [np.float32(t.boost) * np.float32(features[name])
                         for t in query_tokens if (name := to_feature_name(t.token_id)) in features]
        if clause_scores:
            scores[doc_id] = np.float32(sum(float(s) for s in clause_scores))
    return scores


def exact_ranking(scores: dict[str, np.float32], k: int = 10) -> list[str]:
    """The top `k` of `scores`, ties in corpus order (the order of `scores`)."""
    order = {doc_id: i for i, doc_id in enumerate(scores)}
    return sorted(scores, key=lambda d: (-scores[d], order[d]))[:k]


def same_up_to_ties(hits: list[Hit], expected: list[str], scores: dict[str, np.float32]) -> bool:
    """The engine's ids are the expected ones, or differ only where exactly equal scores are ordered another way:
    every hit carries its own exact score, and the scores rank by rank are the expected ones."""
    if [h.doc_id for h in hits] == expected:
        return True
    return all(np.float32(h.score) == scores.get(h.doc_id) for h in hits) and \
        [np.float32(h.score) for h in hits] == [scores[d] for d in expected]


def test_engine_ranking_equals_in_process_scoring(engine_client, engine_index, tokenizer, scifact_encoded, data):
    client, index_name = engine_client, engine_index
    records, _ = scifact_encoded
    create_index(client, index_name)
    report = ingest(client, records, IngestOptions(index=index_name, resume=False, rejects_path=None),
                    tokenizer=tokenizer, show_progress=False)
    assert report.rejected == 0 and report.indexed == len(records)
    indexed = {r.doc_id: nail_features(r.features, tokenizer) for r in records}

    queries = read_queries(data / "scifact")
    differ = []
    for qid, text in queries.items():
        hits = search(client, index_name, text, tokenizer, QueryOptions(mode="nail", size=10))
        # The boosts `search` sent: IDF over this index (nail_os.statistics), read back from the engine.
        weights = index_query_weights(client, index_name, "nail", tokenizer.query_token_ids(text))
        assert weights is not None
        scores = exact_scores(tokenizer.tokenize_query(text, weights), indexed)
        expected = exact_ranking(scores)
        if not same_up_to_ties(hits, expected, scores):
            differ.append((qid, [(h.doc_id, h.score) for h in hits], [(d, float(scores[d])) for d in expected]))
    same = len(queries) - len(differ)
    assert same / len(queries) >= 0.99, f"top-10 identical for {same}/{len(queries)} queries; e.g. {differ[:2]}"
