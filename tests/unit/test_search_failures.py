"""What `nail_os.search.send` logs when it resends a search (the cause, wherever the engine put it), and what
it does not resend.

The error bodies are as a real OpenSearch 3.8 node answered eight clients on a search pool of one thread
(the integration test `test_search_back_pressure_429_is_retried` runs that case end to end).
"""

from __future__ import annotations

import time

import pytest
from opensearchpy import ConnectionError as OSConnectionError
from opensearchpy import TransportError

from nail_os.connection import ClusterConfig, make_client
from nail_os.search import RETRYABLE_STATUS, SEARCH_BACKOFF, describe_failure, refused, send, shard_failures

REJECTED = {"type": "rejected_execution_exception",
            "reason": "rejected execution of TimedRunnable on QueueResizableOpenSearchThreadPoolExecutor[name = "
                      "node-0/search, queue capacity = 1]"}


def test_a_query_phase_failure_names_its_root_cause():
    info = {"error": {"root_cause": [REJECTED], "type": "search_phase_execution_exception",
                      "reason": "all shards failed", "phase": "query", "failed_shards": [{"reason": REJECTED}]},
            "status": 429}
    why = describe_failure(TransportError(429, "search_phase_execution_exception", info), 429)
    assert why.startswith("HTTP 429 search_phase_execution_exception (query phase): rejected_execution_exception:")
    assert "node-0/search" in why


def test_a_fetch_phase_failure_has_no_root_cause_but_still_names_the_cause():
    info = {"error": {"root_cause": [], "type": "search_phase_execution_exception", "reason": "",
                      "phase": "fetch", "failed_shards": [], "caused_by": REJECTED}, "status": 429}
    why = describe_failure(TransportError(429, "search_phase_execution_exception", info), 429)
    assert "(fetch phase): rejected_execution_exception" in why


def test_no_answer_is_described_by_the_exception():
    why = describe_failure(OSConnectionError("N/A", "Connection reset by peer", None), None)
    assert why.startswith("ConnectionError:") and "reset" in why


def test_partial_results_name_the_failed_shards():
    shards = {"total": 3, "successful": 2, "skipped": 0, "failed": 1,
              "failures": [{"shard": 1, "index": "docs", "node": "n1",
                            "reason": {"type": "node_disconnected_exception", "reason": "[node-2] disconnected"}}]}
    assert shard_failures(shards) == "1 of 3 shards failed: node_disconnected_exception ([node-2] disconnected)"


def test_client_errors_are_not_resent():
    # 400 (a bad query), 401/403 (credentials), 404 (no such index) repeat identically: resending only delays them.
    assert not RETRYABLE_STATUS & {400, 401, 403, 404}
    assert {429, 500, 503} <= RETRYABLE_STATUS


@pytest.mark.parametrize("engine", ["opensearch", "elasticsearch"])
def test_a_refused_first_try_fails_at_once(engine):
    """Nothing listens on port 1: a wrong URL or a stopped node is reported now, not after 5 backoffs."""
    client = make_client(ClusterConfig(url="http://127.0.0.1:1", engine=engine))
    started = time.monotonic()
    with pytest.raises(Exception) as caught:  # noqa: PT011 - each client raises its own ConnectionError
        send(client, "docs", {"query": {"match_all": {}}})
    assert refused(caught.value)
    assert time.monotonic() - started < SEARCH_BACKOFF / 2  # the shortest first backoff: no retry happened
