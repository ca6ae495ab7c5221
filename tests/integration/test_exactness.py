"""OpenSearch's NAIL ranking is the exact dot product of query tokens and document weights.

A real corpus (SciFact) is encoded, ingested through the kit, and every query is run through the
engine and scored exhaustively in-process from the weights in the index. nail-os rounds weights to
the 9 significant bits `rank_features` keeps before sending them, so the index holds exactly those
weights; the in-process score follows Lucene's arithmetic (float32 clause scores summed in double,
then float32; ties in doc order). Top-10 must be identical for ≥ 99% of queries.
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
from nail_os.search import search

pytestmark = pytest.mark.integration


def exact_ranking(query_tokens, docs: dict[str, dict[str, float]], k: int = 10) -> list[str]:
    """Exhaustive scoring of the indexed features, in Lucene's float arithmetic; ties keep doc order."""
    scores = []
    for order, (doc_id, features) in enumerate(docs.items()):
        clause_scores = [np.float32(t.boost) * np.float32(features[name])
                         for t in query_tokens if (name := to_feature_name(t.token_id)) in features]
        if clause_scores:
            scores.append((-np.float32(sum(float(s) for s in clause_scores)), order, doc_id))
    return [doc_id for _, _, doc_id in sorted(scores)[:k]]


def test_engine_ranking_equals_in_process_scoring(client, index_name, tokenizer, scifact_encoded, data):
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
        expected = exact_ranking(tokenizer.tokenize_query(text), indexed)
        if [h.doc_id for h in hits] != expected:
            differ.append((qid, [h.doc_id for h in hits], expected))
    same = len(queries) - len(differ)
    assert same / len(queries) >= 0.99, f"top-10 identical for {same}/{len(queries)} queries; e.g. {differ[:2]}"
