"""How the bot lives through a Redis outage: connections that heal, and one log line per outage.

Redis holds only what the bot can answer without for a while (history, limits, pacing, settings,
the admin cache), so an adapter that cannot reach it falls back (no history, no limits, default
settings) instead of failing the question. redis-py reconnects by itself: a dead pooled connection
(after a Redis restart) is retried on a new one with backoff, and idle ones are health-checked.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import Any, TypeVar

from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger(__name__)

T = TypeVar("T")

# Errors that mean "Redis is not there right now", whichever library raised them.
OUTAGE_ERRORS: tuple[type[BaseException], ...] = (RedisError, OSError)


def connection_options() -> dict[str, Any]:
    """redis-py options for every client and pool: retry a dropped or stale connection on a fresh one
    (3 times, 50 ms doubling to 1 s, with jitter), check a connection idle for 10 s before using it,
    and never hang on a dead server."""
    return {
        "retry": Retry(ExponentialWithJitterBackoff(base=0.05, cap=1.0), retries=3),
        "retry_on_error": [RedisConnectionError, RedisTimeoutError],
        "health_check_interval": 10,
        "socket_connect_timeout": 2,
        "socket_timeout": 5,
    }


class OutageLog:
    """Says "Redis unavailable" once when an outage starts and "Redis is back" once when it ends."""

    def __init__(self) -> None:
        self._down = False

    def failed(self, what: str, exc: BaseException) -> None:
        if not self._down:
            self._down = True
            log.warning(
                "Redis unavailable (%s: %s): answering without history, limits and pacing until it is back",
                what,
                exc,
            )

    def succeeded(self) -> None:
        if self._down:
            self._down = False
            log.warning("Redis is back")


OUTAGE = OutageLog()  # one per process: the outage is the same whichever adapter sees it


async def or_fallback(call: Awaitable[T], fallback: T, what: str) -> T:
    """`await call`, or `fallback` when Redis is unreachable (logged once per outage)."""
    try:
        result = await call
    except OUTAGE_ERRORS as exc:
        OUTAGE.failed(what, exc)
        return fallback
    OUTAGE.succeeded()
    return result
