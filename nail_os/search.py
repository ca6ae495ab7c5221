"""Run a query body, parse the hits, and explain which tokens matched and what each added.

A search changes nothing, so `send` resends one that meets what a cluster says while it recovers or sheds load
(see `RETRYABLE_STATUS`), and one whose answer lacks some shards, with jittered exponential backoff.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from nail_os._retry import READ_RETRYABLE_STATUS, Backoff, is_transient
from nail_os.engines import Client, engine_of
from nail_os.queries import QueryOptions, build_query
from nail_os.statistics import index_statistics
from nail_os.tokens import Tokenizer

log = logging.getLogger(__name__)

# What is retried, and how long to wait, is the kit's one retry policy (`nail_os._retry`); a search is read-only,
# so it also retries a 500 (a node lost mid-search).
RETRYABLE_STATUS = READ_RETRYABLE_STATUS
SEARCH_RETRIES = 5
SEARCH_BACKOFF = 0.2  # seconds before the first retry; doubled for each next one, up to SEARCH_MAX_BACKOFF
SEARCH_MAX_BACKOFF = 5.0


@dataclass
class Hit:
    """One ranked document. `contributions` (with `explain`) maps a matched query token, or `bm25`, to
    the score it added."""

    doc_id: str
    score: float
    title: str = ""
    contributions: dict[str, float] = field(default_factory=dict)


def search(
    client: Client,
    index: str,
    text: str,
    tokenizer: Tokenizer | None,
    options: QueryOptions | None = None,
    *,
    explain: bool = False,
    request_cache: bool | None = None,
    retries: int = SEARCH_RETRIES,
) -> list[Hit]:
    """Search `index` for `text` under `options` and return the ranked hits.

    `client` is an OpenSearch or an Elasticsearch client; the body is built in its engine's dialect.
    Transient failures are resent up to `retries` times (see `send`).
    """
    engine = engine_of(client)
    options = replace(options or QueryOptions(), engine=engine.NAME)
    if explain:
        options = replace(options, named=True)
    weights = None
    if tokenizer is not None and options.mode != "bm25" and options.query_weights == "index":
        weights = index_query_weights(client, index, options.nail_field, tokenizer.query_token_ids(text))
    body = build_query(text, tokenizer, options, weights)
    params: dict[str, Any] = {}
    if explain:
        # Named clauses report their own scores: the contribution of each token, without `explain`'s tree.
        params["include_named_queries_score"] = "true"
    if request_cache is not None:
        params["request_cache"] = str(request_cache).lower()
    response = send(client, index, body, params, retries=retries)
    return parse_hits(response, tokenizer, nail_weight=options.nail_weight if options.mode == "hybrid" else 1.0)


def index_query_weights(
    client: Client, index: str, nail_field: str, token_ids: Iterable[int]
) -> dict[int, float] | None:
    """IDF of `token_ids` over `index` (`nail_os.statistics`), or None (the model's weights) when the index keeps
    no token statistics or they cannot be read: a search never fails for want of them."""
    engine = engine_of(client)
    try:
        return index_statistics(client, index, nail_field).weights(token_ids)
    except engine.errors() as exc:
        log.warning("index %r: token statistics unreadable, using the model's query weights: %s", index,
                    describe_failure(exc, engine.status_code(exc)))
        return None


def send(client: Client, index: str, body: dict[str, Any], params: Mapping[str, str] | None = None, *,
         retries: int = SEARCH_RETRIES, backoff: float = SEARCH_BACKOFF) -> dict[str, Any]:
    """`POST /<index>/_search` with `body`, resent up to `retries` times when there is no answer, when the
    answer is an HTTP status in `RETRYABLE_STATUS`, or when some shards failed. Other errors, and the last
    one, are raised; an answer still missing shards after the last retry is returned (as the engine's own
    `allow_partial_search_results` would) with a warning that names the failed shards."""
    engine = engine_of(client)
    policy = Backoff(retries=retries, initial=backoff, maximum=SEARCH_MAX_BACKOFF)
    why = ""
    for attempt in range(retries + 1):
        if attempt:
            delay = policy.delay(attempt)
            log.warning("search of index %r: retry %d/%d in %.2fs: %s", index, attempt, retries, delay, why)
            time.sleep(delay)
        try:
            response = engine.search(client, index, body, params)
        except engine.errors() as exc:
            transient = is_transient(engine, exc, read_only=True)
            # Refused at the first try: nothing listens there (a wrong URL, a stopped node), so say so at once.
            # A node that dies under a search resets or times out instead, or is refused only on a resend.
            if not transient or attempt == retries or (attempt == 0 and refused(exc)):
                raise
            why = describe_failure(exc, engine.status_code(exc))
            continue
        shards = response.get("_shards") or {}
        if not shards.get("failed"):
            return response
        why = shard_failures(shards)
        if attempt == retries:
            log.warning("search of index %r: partial results after %d retries: %s", index, retries, why)
    return response


def refused(exc: BaseException) -> bool:
    """Whether a ConnectionRefusedError lies under `exc`: the clients wrap it in their own errors, keeping it as
    the cause (`info` for opensearch-py, `errors` for elasticsearch-py 8)."""
    seen: set[int] = set()
    todo: list[object] = [exc]
    while todo:
        err = todo.pop()
        if not isinstance(err, BaseException) or id(err) in seen:
            continue
        if isinstance(err, ConnectionRefusedError):
            return True
        seen.add(id(err))
        todo += [err.__cause__, err.__context__, getattr(err, "info", None), *getattr(err, "errors", ())]
    return False


def describe_failure(exc: BaseException, status: int | None) -> str:
    """'HTTP 429 search_phase_execution_exception (fetch phase): rejected_execution_exception: ...' for an error
    answer (the cause sits in `root_cause`, or only in `caused_by` when the fetch phase failed), else the
    exception itself."""
    info = getattr(exc, "info", None) or getattr(exc, "body", None)  # opensearch-py / elasticsearch-py 8
    error = info.get("error") if isinstance(info, Mapping) else None
    if not isinstance(error, Mapping):
        return f"{type(exc).__name__}: {exc}"[:300]
    cause = (error.get("root_cause") or [error.get("caused_by") or {}])[0]
    phase = f" ({error['phase']} phase)" if error.get("phase") else ""
    return f"HTTP {status} {error.get('type')}{phase}: {cause.get('type', '?')}: {cause.get('reason', '')}"[:300]


def shard_failures(shards: Mapping[str, Any]) -> str:
    """'1 of 3 shards failed: node_disconnected_exception (...)' from a response's `_shards`."""
    failures = shards.get("failures") or [{}]
    reason = failures[0].get("reason") or {}
    return (f"{shards.get('failed')} of {shards.get('total')} shards failed: "
            f"{reason.get('type', '?')} ({str(reason.get('reason', ''))[:200]})")


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
