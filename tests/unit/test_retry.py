"""The one retry policy: ingest and search resend the same failures, after the same jittered backoff."""

from __future__ import annotations

import importlib

from opensearchpy.exceptions import ConnectionError as OSConnectionError
from opensearchpy.exceptions import TransportError

from nail_os._retry import READ_RETRYABLE_STATUS, RETRYABLE_STATUS, Backoff, is_transient
from nail_os.engines import load


def test_backoff_doubles_up_to_its_maximum_with_jitter_in_half_to_one():
    policy = Backoff(retries=6, initial=1.0, maximum=8.0)
    for attempt, full in enumerate([1.0, 2.0, 4.0, 8.0, 8.0, 8.0], start=1):
        for _ in range(50):
            assert full / 2 <= policy.delay(attempt) <= full
    assert Backoff(retries=3, initial=0.5, maximum=1.0, jitter=False).delays() == [0.5, 1.0, 1.0]


def test_ingest_and_search_share_one_status_set():
    # nail_os.ingest and nail_os.search are also the names of functions in nail_os, hence import_module
    ingest, search = importlib.import_module("nail_os.ingest"), importlib.import_module("nail_os.search")
    assert ingest.RETRYABLE_STATUS is RETRYABLE_STATUS
    assert search.RETRYABLE_STATUS is READ_RETRYABLE_STATUS
    assert {429, 502, 503, 504} == RETRYABLE_STATUS and READ_RETRYABLE_STATUS - RETRYABLE_STATUS == {500}


def test_connection_errors_and_pushback_are_transient_other_errors_are_not():
    engine = load("opensearch")
    assert is_transient(engine, OSConnectionError("N/A", "refused", None))
    assert is_transient(engine, TransportError(429, "es_rejected_execution_exception", {}))
    assert not is_transient(engine, TransportError(400, "parsing_exception", {}))
    assert not is_transient(engine, TransportError(500, "search_phase_execution_exception", {}))
    assert is_transient(engine, TransportError(500, "search_phase_execution_exception", {}), read_only=True)
