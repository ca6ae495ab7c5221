"""Query bodies: a `bool`/`should` of `rank_feature` clauses (NAIL), BM25, and their hybrid.

The NAIL score of a document is Σ over distinct query tokens of count × query weight × document
weight. Each clause says `"linear": {}`: without it `rank_feature` applies `saturation`
(S / (S + pivot)) and the sum is no longer a dot product. The hybrid is one request: a weighted
`bool` of the BM25 `multi_match` and the NAIL clauses, so the engine adds the two scores itself; with
`hybrid_normalization="max"` it is the nail plugin's `nail_hybrid` query, which first divides each score by its
top score over the index, so one weight pair fits every collection.
On Elasticsearch (`QueryOptions.engine`) each token clause is a `term` on the `sparse_vector` field,
which scores the same product (see `nail_os.engines.elasticsearch`); the rest of the body is the same.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from nail_os.engines import ENGINES, EngineName, load
from nail_os.errors import NailOSError
from nail_os.features import DEFAULT_NAIL_FIELD, to_feature_name
from nail_os.registry import SHIPPED
from nail_os.tokens import QueryToken, Tokenizer

Mode = Literal["bm25", "nail", "hybrid"]
MODES: tuple[Mode, ...] = ("bm25", "nail", "hybrid")
# How the hybrid combines BM25 and NAIL: "none", their raw weighted sum (a bool, any cluster); "max", each score
# divided by its top score over the index first (the nail plugin's `nail_hybrid` query, OpenSearch only).
HybridNormalization = Literal["none", "max"]
HYBRID_NORMALIZATIONS: tuple[HybridNormalization, ...] = ("none", "max")
# The BM25 part's shape (QueryOptions.bm25_query).
BM25Query = Literal["multi_match", "combined_fields"]
BM25_QUERIES: tuple[BM25Query, ...] = ("multi_match", "combined_fields")
# OpenSearch's default `indices.query.bool.max_clause_count` (the engine counts the clauses of every
# Boolean query, nested ones too, against it).
DEFAULT_MAX_CLAUSES = 1024
# BEIR's Elasticsearch BM25 baseline: best_fields over title and body with tie_breaker 0.5.
DEFAULT_TEXT_FIELDS: tuple[str, ...] = ("title", "text")
# What the standard tokenizer makes a term, counted on the safe side: a run of word characters, except that
# Han, Hiragana and Katakana characters are one term each (UAX#29 word breaks, which Lucene follows).
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_WORD = re.compile(rf"[{_CJK}]|[^\W{_CJK}]+", re.UNICODE)


class QueryError(NailOSError, ValueError):
    """A query that cannot be turned into a body under the options given."""


@dataclass(frozen=True)
class QueryOptions:
    """How a text becomes a body. The CLI's `search` and `query` options map onto these fields."""

    mode: Mode = "nail"
    size: int = 10
    nail_field: str = DEFAULT_NAIL_FIELD
    text_fields: Sequence[str] = field(default=DEFAULT_TEXT_FIELDS)
    # The BM25 part's shape: "multi_match" (best_fields, tie_breaker 0.5: BEIR's baseline, the default) or
    # "combined_fields" (BM25F over the fields as one; Lucene can skip non-competitive documents in it, which
    # best_fields with a tie_breaker prevents: the faster hybrid at scale, eval/results/performance.md).
    bm25_query: BM25Query = "multi_match"
    bm25_weight: float = 1.0
    nail_weight: float = 1.0
    max_clauses: int = DEFAULT_MAX_CLAUSES
    on_too_many: Literal["prune", "refuse"] = "prune"
    named: bool = False  # name each clause (`_name`) so hits report which tokens matched
    # "rank_feature": a bool of one linear clause per token (rank_feature on OpenSearch, term on Elasticsearch);
    # "neural_sparse": the OpenSearch neural-search plugin's query with query_tokens (same scores, needs the
    # plugin); "sparse_vector": Elasticsearch's query with query_vector (same scores, 8.15+).
    nail_query: Literal["rank_feature", "neural_sparse", "sparse_vector"] = "rank_feature"
    engine: EngineName = "opensearch"  # whose dialect; `search()` sets it from the client
    # "index": IDF over the searched index's own documents where it keeps token statistics (nail_os.statistics),
    # the model's query_weights.json otherwise; "model": always the model's.
    query_weights: Literal["index", "model"] = "index"
    # Send the text in one `nail` clause, tokenized and weighted inside the node by the nail plugin (plugin/ on
    # OpenSearch, plugin/elasticsearch/ on Elasticsearch), instead of one clause per token; `model` names the
    # model there (uploaded, or a folder under config/nail/models/; Elasticsearch reads folders only).
    server_side: bool = False
    model: str = SHIPPED
    # "max": the hybrid is the plugin's `nail_hybrid` query, bm25_weight x BM25/top BM25 + nail_weight x NAIL/top
    # NAIL, the tops found by the node over the searched index (min-max with the lower bound 0); "none": the raw
    # weighted sum. Needs the nail plugin on OpenSearch; either NAIL body (server_side or not) goes inside it.
    hybrid_normalization: HybridNormalization = "none"

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise QueryError(f"mode {self.mode!r} is not one of {', '.join(MODES)}")
        if self.engine not in ENGINES:
            raise QueryError(f"engine {self.engine!r} is not one of {', '.join(ENGINES)}")
        # nail_query is checked against the engine in build_query: `search()` sets the engine from its client.
        if self.query_weights not in ("index", "model"):
            raise QueryError(f"query_weights {self.query_weights!r} is not 'index' or 'model'")
        if self.max_clauses < 1:
            raise QueryError(f"max_clauses must be ≥ 1, got {self.max_clauses}")
        if self.server_side and self.on_too_many == "refuse":
            raise QueryError("server_side always prunes a query over max_clauses tokens (the node tokenizes it); "
                             "use on_too_many='prune' or build the query on the client")
        if self.server_side and self.query_weights != "index":
            raise QueryError("server_side weighs tokens as query_weights='index' does (the index's statistics where "
                             "it keeps them, the model's weights otherwise); query_weights='model' needs the "
                             "client-built body")
        if self.bm25_query not in BM25_QUERIES:
            raise QueryError(f"bm25_query {self.bm25_query!r} is not one of {', '.join(BM25_QUERIES)}")
        if self.hybrid_normalization not in HYBRID_NORMALIZATIONS:
            raise QueryError(f"hybrid_normalization {self.hybrid_normalization!r} is not one of "
                             f"{', '.join(HYBRID_NORMALIZATIONS)}")
        if self.hybrid_normalization == "max":
            if self.engine != "opensearch":
                raise QueryError("hybrid_normalization='max' is the OpenSearch nail plugin's nail_hybrid query; "
                                 f"{self.engine} has no such query (docs/elasticsearch.md): use 'none'")
            if not (self.bm25_weight >= 0 and self.nail_weight >= 0 and self.bm25_weight + self.nail_weight > 0):
                raise QueryError(f"hybrid_normalization='max' needs weights >= 0, not both 0; got bm25_weight="
                                 f"{self.bm25_weight}, nail_weight={self.nail_weight}")
            if self.named:
                raise QueryError("hybrid_normalization='max' scales each part by a top score the node finds, so "
                                 "named clauses cannot report their share; explain needs hybrid_normalization='none'")
        if self.server_side and self.named:
            raise QueryError("server_side sends one `nail` clause, so hits cannot tell which tokens matched; "
                             "explain needs the client-built body (server_side=False)")


def select_tokens(tokens: list[QueryToken], limit: int, on_too_many: str) -> list[QueryToken]:
    """At most `limit` tokens: the largest boosts (count × query weight) when pruning, else QueryError."""
    if len(tokens) <= limit:
        return tokens
    if on_too_many == "refuse":
        raise QueryError(
            f"query has {len(tokens)} distinct tokens, over the {limit} clauses allowed "
            f"(indices.query.bool.max_clause_count); shorten it or allow pruning"
        )
    return sorted(tokens, key=lambda t: (-t.boost, t.token_id))[:limit]


def nail_clauses(tokens: Sequence[QueryToken], *, nail_field: str, named: bool = False,
                 engine: EngineName = "opensearch") -> list[dict[str, Any]]:
    """One linear clause per distinct token, boosted by count × query weight, named by token id if `named`.

    On OpenSearch a `rank_feature` clause with `linear`; on Elasticsearch a `term` on the sparse_vector field.
    """
    dialect = load(engine)
    return [dialect.nail_clause(nail_field, to_feature_name(t.token_id), t.boost, f"{t.token_id}" if named else None)
            for t in tokens]


def neural_sparse_clause(tokens: Sequence[QueryToken], *, nail_field: str,
                         engine: EngineName = "opensearch") -> dict[str, Any]:
    """The whole NAIL part as the engine's own one-query form, with precomputed token weights.

    OpenSearch: the neural-search plugin's `neural_sparse` with `query_tokens` (for clusters that run the
    plugin); Elasticsearch: its `sparse_vector` query with `query_vector`. Either scores the same dot product,
    so the body is interchangeable with the bool of clauses. Feature names are token ids.
    """
    return load(engine).vector_query(nail_field, {to_feature_name(t.token_id): t.boost for t in tokens})


def server_nail_clause(text: str, *, nail_field: str, model: str, max_clauses: int) -> dict[str, Any]:
    """The plugin's `nail` query: the node tokenizes `text` and builds the clauses `nail_clauses` would.

    >>> server_nail_clause("vitamin d", nail_field="nail", model="nail-minilm", max_clauses=1024)
    {'nail': {'field': 'nail', 'query': 'vitamin d', 'model': 'nail-minilm', 'max_clauses': 1024}}
    """
    return {"nail": {"field": nail_field, "query": text, "model": model, "max_clauses": max_clauses}}


def normalized_hybrid(parts: Sequence[tuple[dict[str, Any] | None, float]]) -> dict[str, Any]:
    """The nail plugin's `nail_hybrid` query over the parts that exist (a part may be None: no BM25 word, no NAIL
    token), each with its weight: score = Σ weight x score / the part's top score over the searched index.

    >>> normalized_hybrid([({"match": {"text": "bone"}}, 0.7), ({"nail": {"query": "bone"}}, 0.3)])["nail_hybrid"]
    ... # doctest: +NORMALIZE_WHITESPACE
    {'queries': [{'match': {'text': 'bone'}}, {'nail': {'query': 'bone'}}],
     'weights': [0.7, 0.3], 'normalization': 'max'}
    """
    kept = [(part, weight) for part, weight in parts if part is not None]
    if len(kept) == 1:  # one part ranks alone; its weight would only scale every score (and might be 0)
        kept = [(kept[0][0], 1.0)]
    return {"nail_hybrid": {"queries": [part for part, _ in kept], "weights": [weight for _, weight in kept],
                            "normalization": "max"}}


def bm25_clause(text: str, *, text_fields: Sequence[str], max_clauses: int, named: bool = False,
                shape: BM25Query = "multi_match") -> dict[str, Any]:
    """BEIR's BM25 baseline query (or, `shape="combined_fields"`, BM25F over the fields), cut to its first words
    when it would exceed `max_clauses`.

    >>> bm25_clause("bone loss", text_fields=["title", "text"], max_clauses=1024, shape="combined_fields")
    {'combined_fields': {'query': 'bone loss', 'fields': ['title', 'text']}}

    The analyzer turns each word into one term clause per field, and the engine counts every nested
    clause against max_clause_count, so a 10,000-word query would fail on the server; the cut is
    client-side and deterministic.
    """
    words = _WORD.findall(text)
    max_words = max(1, max_clauses // max(1, len(text_fields)))
    if len(words) > max_words:
        text = " ".join(words[:max_words])
    clause: dict[str, Any] = {"query": text, "fields": list(text_fields)}
    if shape == "multi_match":
        clause.update(type="best_fields", tie_breaker=0.5)
    if named:
        clause["_name"] = "bm25"
    return {shape: clause}


def build_query(
    text: str,
    tokenizer: Tokenizer | None,
    options: QueryOptions | None = None,
    query_weights: Mapping[int, float] | None = None,
) -> dict[str, Any]:
    """The search body for `text` under `options` (mode, weights, clause limit).

    `query_weights` (token id -> weight: the searched index's IDF, `nail_os.statistics`) replace the model's
    own query weights.

    >>> build_query("u.s. coffee", tok, QueryOptions(mode="nail"))["query"]  # doctest: +SKIP
    {'bool': {'should': [{'rank_feature': {'field': 'nail.1057', 'linear': {}}}, ...]}}

    A query with no usable token (empty, punctuation the tokenizer drops, only [UNK]) gives a body
    that matches nothing rather than an error: `{"match_none": {}}`. With `options.server_side` the NAIL part
    is one `nail` clause (`server_nail_clause`) that the nail plugin turns into the same clauses on the node;
    `tokenizer` may then be None. With `options.hybrid_normalization == "max"` a hybrid is one `nail_hybrid`
    query (`normalized_hybrid`) around the same two parts.
    """
    options = options or QueryOptions()
    if not isinstance(text, str):
        raise QueryError(f"query text must be a string, got {type(text).__name__}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:  # lone surrogates: bytes that were not UTF-8 on the command line
        raise QueryError(f"query text is not valid UTF-8 (character {exc.start}: {text[exc.start]!r})") from None
    body: dict[str, Any] = {"size": options.size, "_source": ["doc_id", "title"]}
    # One clause budget for the whole request: in hybrid the BM25 words and NAIL tokens share it.
    nail_budget = options.max_clauses if options.mode == "nail" else options.max_clauses // 2
    bm25_budget = options.max_clauses - nail_budget if options.mode == "hybrid" else options.max_clauses

    nail_part: dict[str, Any] | None = None
    if options.mode in ("nail", "hybrid") and options.server_side:
        nail_part = server_nail_clause(text, nail_field=options.nail_field, model=options.model,
                                       max_clauses=nail_budget)
    elif options.mode in ("nail", "hybrid"):
        if tokenizer is None:
            raise QueryError(f"mode {options.mode!r} needs the model's tokenizer")
        supported = load(options.engine).NAIL_QUERIES
        if options.nail_query not in supported:
            raise QueryError(f"nail_query {options.nail_query!r} does not run on {options.engine}; choose one of "
                             f"{', '.join(supported)}")
        tokens = select_tokens(tokenizer.tokenize_query(text, query_weights), nail_budget, options.on_too_many)
        if tokens and options.nail_query != "rank_feature":
            nail_part = neural_sparse_clause(tokens, nail_field=options.nail_field, engine=options.engine)
        elif tokens:
            nail_part = {"bool": {"should": nail_clauses(tokens, nail_field=options.nail_field, named=options.named,
                                                         engine=options.engine)}}
    bm25_part: dict[str, Any] | None = None
    if options.mode in ("bm25", "hybrid") and _WORD.search(text):
        bm25_part = bm25_clause(text, text_fields=options.text_fields, max_clauses=bm25_budget, named=options.named,
                                shape=options.bm25_query)

    if options.mode == "hybrid" and options.hybrid_normalization == "max" and (nail_part or bm25_part):
        body["query"] = normalized_hybrid([(bm25_part, options.bm25_weight), (nail_part, options.nail_weight)])
    elif options.mode == "hybrid" and nail_part and bm25_part:
        bm25_part[options.bm25_query]["boost"] = options.bm25_weight
        weighted_nail = {"bool": {"should": [nail_part], "boost": options.nail_weight}}
        if "nail" in nail_part:  # the plugin's query takes the boost itself, as the bool of clauses does
            nail_part["nail"]["boost"] = options.nail_weight
            weighted_nail = nail_part
        elif "bool" in nail_part:
            nail_part["bool"]["boost"] = options.nail_weight
            weighted_nail = nail_part
        body["query"] = {"bool": {"should": [bm25_part, weighted_nail]}}
    else:
        body["query"] = nail_part or bm25_part or {"match_none": {}}
    return body
