"""Run a query body, parse the hits, and explain which tokens matched and what each added."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from nail_os.engines import engine_of
from nail_os.queries import QueryOptions, build_query
from nail_os.tokens import Tokenizer


@dataclass
class Hit:
    """One ranked document. `contributions` (with `explain`) maps a matched query token, or `bm25`, to
    the score it added."""

    doc_id: str
    score: float
    title: str = ""
    contributions: dict[str, float] = field(default_factory=dict)


def search(
    client: Any,
    index: str,
    text: str,
    tokenizer: Tokenizer | None,
    options: QueryOptions | None = None,
    *,
    explain: bool = False,
    request_cache: bool | None = None,
) -> list[Hit]:
    """Search `index` for `text` under `options` and return the ranked hits.

    `client` is an OpenSearch or an Elasticsearch client; the body is built in its engine's dialect.
    """
    engine = engine_of(client)
    options = replace(options or QueryOptions(), engine=engine.NAME)
    if explain:
        options = replace(options, named=True)
    body = build_query(text, tokenizer, options)
    params: dict[str, Any] = {}
    if explain:
        # Named clauses report their own scores: the contribution of each token, without `explain`'s tree.
        params["include_named_queries_score"] = "true"
    if request_cache is not None:
        params["request_cache"] = str(request_cache).lower()
    response = engine.search(client, index, body, params)
    return parse_hits(response, tokenizer, nail_weight=options.nail_weight if options.mode == "hybrid" else 1.0)


def parse_hits(response: dict[str, Any], tokenizer: Tokenizer | None, *, nail_weight: float = 1.0) -> list[Hit]:
    hits = []
    for raw in response["hits"]["hits"]:
        source = raw.get("_source") or {}
        hit = Hit(doc_id=source.get("doc_id", raw["_id"]), score=float(raw["_score"] or 0.0),
                  title=source.get("title", ""))
        matched = raw.get("matched_queries") or {}
        if isinstance(matched, list):  # an engine without named-query scores: names only
            matched = dict.fromkeys(matched, float("nan"))
        for name, score in matched.items():
            if name == "bm25":  # the clause's own boost (the BM25 weight) is already in its score
                hit.contributions["bm25"] = score
            else:  # a token clause: the NAIL weight boosts the enclosing bool, not the clause

                token = tokenizer.id_to_token(int(name)) if tokenizer else name
                hit.contributions[token] = score * nail_weight
        hits.append(hit)
    return hits
