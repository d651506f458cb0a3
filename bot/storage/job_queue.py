"""A durable ingestion queue on a Redis stream with a consumer group.

Redis keeps every job until a worker acknowledges it, so a job survives a crash or restart: the same
worker (a stable name, e.g. the host name) takes its own unacknowledged jobs back first, and another
replica takes them over once they have been idle for `stale_after_s`. A running job refreshes its
idle time (`touch`) as it makes progress, so only dead workers lose their jobs to others.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, cast

from redis.asyncio import Redis
from redis.exceptions import ResponseError

STREAM = "kb:ingest:jobs"
GROUP = "ingesters"


@dataclass(frozen=True)
class QueuedJob:
    entry_id: str
    payload: dict[str, Any]
    deliveries: int  # 1 on the first run; more after crashes or restarts


class JobQueue:
    def __init__(self, redis: Redis, *, consumer: str, stale_after_s: float) -> None:
        self._redis = redis
        self._consumer = consumer
        self._stale_after_ms = int(stale_after_s * 1000)

    async def _ensure_group(self) -> None:
        try:
            await self._redis.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def enqueue(self, payload: dict[str, Any]) -> str:
        await self._ensure_group()
        return str(await self._redis.xadd(STREAM, {"job": json.dumps(payload, ensure_ascii=False)}))

    async def next(self, block_s: float) -> QueuedJob | None:
        """This worker's unfinished job, else a dead worker's stale one, else a new one (waits `block_s`)."""
        await self._ensure_group()
        own = await self._redis.xreadgroup(GROUP, self._consumer, {STREAM: "0"}, count=1)
        entries = _entries(own)
        if not entries:
            claimed = await self._redis.xautoclaim(
                STREAM, GROUP, self._consumer, min_idle_time=self._stale_after_ms, start_id="0-0", count=1
            )
            entries = [(str(entry_id), fields) for entry_id, fields in claimed[1] if fields]
        if not entries:
            fresh = await self._redis.xreadgroup(
                GROUP, self._consumer, {STREAM: ">"}, count=1, block=max(1, int(block_s * 1000))
            )
            entries = _entries(fresh)
        if not entries:
            return None
        entry_id, fields = entries[0]
        pending = await self._redis.xpending_range(STREAM, GROUP, min=entry_id, max=entry_id, count=1)
        deliveries = int(pending[0]["times_delivered"]) if pending else 1
        return QueuedJob(entry_id, json.loads(fields["job"]), deliveries)

    async def touch(self, entry_id: str) -> None:
        """Resets the job's idle time: it is alive, nobody should take it over."""
        await self._redis.xclaim(STREAM, GROUP, self._consumer, 0, [entry_id], justid=True)

    async def done(self, entry_id: str) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.xack(STREAM, GROUP, entry_id)
            pipe.xdel(STREAM, entry_id)
            await pipe.execute()


def _entries(response: Any) -> list[tuple[str, dict[str, str]]]:
    # XREADGROUP answers [[stream, [(id, fields), ...]]]; an own-history read may list deleted ids.
    if not response:
        return []
    _, items = response[0]
    return [(str(entry_id), cast(dict[str, str], fields)) for entry_id, fields in items if fields]
