"""Web pages to re-check, and the lock that lets one replica at a time run a re-check pass.

One Redis hash holds every source (field "scope URL", value JSON). The lock is redis-py's own
`Lock` (a key with an expiry and a token), so a replica that dies mid-pass frees it by expiring.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict

from redis.asyncio import Redis
from redis.asyncio.lock import Lock
from redis.exceptions import LockError

from bot.domain import WebSource

_SOURCES = "kb:web:sources"
_LOCK = "kb:web:refresh-lock"


class WebSourceStore:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def save(self, source: WebSource) -> None:
        await self._redis.hset(_SOURCES, _field(source.scope, source.url), json.dumps(asdict(source)))

    async def remove(self, source: WebSource) -> None:
        await self._redis.hdel(_SOURCES, _field(source.scope, source.url))

    async def sources(self, scopes: Sequence[str] | None = None) -> list[WebSource]:
        """Every source, or those of `scopes`, oldest check first."""
        raw = await self._redis.hgetall(_SOURCES)
        found = [WebSource(**json.loads(value)) for value in raw.values()]
        if scopes is not None:
            found = [s for s in found if s.scope in scopes]
        return sorted(found, key=lambda s: s.checked_at)

    @contextlib.asynccontextmanager
    async def exclusive(self, ttl_s: float) -> AsyncIterator[RefreshLease | None]:
        """A lease on the re-check pass if no replica holds it (None otherwise); it expires after
        `ttl_s` unless renewed, so a dead holder cannot block the others for long."""
        lock = self._redis.lock(_LOCK, timeout=ttl_s, blocking=False, thread_local=False)
        if not await lock.acquire():
            yield None
            return
        try:
            yield RefreshLease(lock)
        finally:
            with contextlib.suppress(LockError):  # expired meanwhile: nothing to release
                await lock.release()


class RefreshLease:
    def __init__(self, lock: Lock) -> None:
        self._lock = lock

    async def renew(self) -> None:
        """Restarts the lease's expiry (call it as a long pass makes progress)."""
        await self._lock.reacquire()


def _field(scope: str, url: str) -> str:
    return f"{scope} {url}"
