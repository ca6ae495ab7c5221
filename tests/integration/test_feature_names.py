"""Every token of the vocabulary survives the trip into the NAIL field and back out through a query.

Tokens like `u.s.`, `##ing`, `[CLS]` or `!` would break as raw feature names (the engine splits at the
last dot, and refuses dots in `rank_features`): nail-os names features by token id. This test indexes
all 30,522 ids, queries each one, and checks both the hit and the weight the engine kept, on OpenSearch
(`rank_features`) and on Elasticsearch (`sparse_vector`).
"""

from __future__ import annotations

import pytest

from nail_os.engines import engine_of
from nail_os.features import from_feature_name, stored_weight, to_feature_name
from nail_os.mapping import create_index
from nail_os.queries import nail_clauses
from nail_os.tokens import QueryToken

pytestmark = pytest.mark.integration
PER_DOC = 1000  # under max_clause_count (1024), so one named query reads back a whole document


def test_whole_vocabulary_round_trips(engine_client, engine_index, engine, tokenizer):
    client, index_name, dialect = engine_client, engine_index, engine_of(engine_client)
    create_index(client, index_name)
    ids = list(range(tokenizer.vocab_size))
    docs = [ids[i : i + PER_DOC] for i in range(0, len(ids), PER_DOC)]
    # Distinct weights per token, spread over several binades, so a swapped name would be caught.
    weight = {i: 0.01 + (i % 977) * 0.013 for i in ids}
    dialect.helpers().bulk(
        client,
        ({"_index": index_name, "_id": str(n), "_source": {"doc_id": str(n),
          "nail": {to_feature_name(i): weight[i] for i in chunk}}} for n, chunk in enumerate(docs)),
        refresh=True,
    )
    missing, wrong = [], []
    for n, chunk in enumerate(docs):
        tokens = [QueryToken(i, tokenizer.id_to_token(i), 1) for i in chunk]
        should = nail_clauses(tokens, nail_field="nail", named=True, engine=engine)
        body = {"size": 1, "query": {"bool": {"should": should, "filter": [{"ids": {"values": [str(n)]}}]}}}
        hit = dialect.search(client, index_name, body, {"include_named_queries_score": "true"})
        matched = hit["hits"]["hits"][0]["matched_queries"]
        for i in chunk:
            score = matched.get(str(i))
            if score is None:
                missing.append(tokenizer.id_to_token(i))
            elif abs(score - stored_weight(weight[i])) > 1e-6 * weight[i]:
                wrong.append((tokenizer.id_to_token(i), weight[i], score))
    assert not missing, f"{len(missing)} tokens not found by their feature name, e.g. {missing[:10]}"
    assert not wrong, f"{len(wrong)} tokens came back with another weight, e.g. {wrong[:5]}"
    # And the names read back to the same tokens.
    assert all(tokenizer.id_to_token(from_feature_name(to_feature_name(i))) == tokenizer.id_to_token(i) for i in ids)
