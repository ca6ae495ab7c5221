"""The one retry policy of the kit: which failures are worth a resend, and how long to wait before it.

Both `ingest` (bulk requests, and single refused items) and `search` resend only requests that are safe to
repeat: a bulk action carries the document's own `_id` (sending it twice overwrites it), and a search
changes nothing.

Retryable: no answer at all (refused, reset, timed out: `Engine.is_connection_error`), or an HTTP status
in `RETRYABLE_STATUS`: 429 (a full write or search queue, a tripped circuit breaker, a flood-stage block)
and 502/503/504 (a proxy, or no copy of a shard ready yet). A read-only request also retries 500
(`READ_RETRYABLE_STATUS`): the loss of a node in the middle of a search reaches the coordinating node as a
search phase that failed on every shard copy it tried, until the cluster state drops those copies. A write
does not: a 500 on a bulk item is not known to be transient, and it goes to the rejects file at once.

The wait is exponential and jittered ("equal jitter": a uniform draw in [½, 1] of the doubled delay), so
that clients that failed together (a node's loss, a full queue) do not all come back at the same moment.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nail_os.engines import Engine

RETRYABLE_STATUS = frozenset({429, 502, 503, 504})
READ_RETRYABLE_STATUS = RETRYABLE_STATUS | {500}


@dataclass(frozen=True)
class Backoff:
    """Up to `retries` resends; the n-th waits `initial · 2^(n-1)` seconds, at most `maximum`, times a jitter in
    [0.5, 1].

    >>> Backoff(retries=3, initial=1.0, maximum=3.0, jitter=False).delays()
    [1.0, 2.0, 3.0]
    """

    retries: int
    initial: float
    maximum: float
    jitter: bool = True

    def delay(self, attempt: int) -> float:
        """Seconds to wait before resend number `attempt` (1 for the first resend)."""
        delay = min(self.maximum, self.initial * 2 ** (attempt - 1))
        return delay * random.uniform(0.5, 1.0) if self.jitter else delay

    def delays(self) -> list[float]:
        return [self.delay(attempt) for attempt in range(1, self.retries + 1)]


def is_transient(engine: Engine, exc: BaseException, *, read_only: bool = False) -> bool:
    """Whether the failed request that raised `exc` is worth resending (see the module docstring)."""
    statuses = READ_RETRYABLE_STATUS if read_only else RETRYABLE_STATUS
    return engine.is_connection_error(exc) or engine.status_code(exc) in statuses
