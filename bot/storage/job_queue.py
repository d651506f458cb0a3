"""A durable ingestion queue on a Redis stream with a consumer group.

Redis keeps every job until a worker acknowledges it, so a job survives a crash or restart. Each worker
process has its own consumer name (host, pid and a random suffix). A worker that stops cleanly hands its
unfinished job back (`release`), and any worker takes it at once; a crashed worker's job is taken over
once it has been idle for `stale_after_s`. A running job refreshes its idle time (`touch`) as it makes
progress, so only dead workers lose their jobs to others.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
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

    async def release(self, entry_id: str) -> None:
        """Hands an unfinished job back: marked idle past the stale limit, so the next worker claims it.

        The entry stays pending (nothing is lost if Redis is left alone now); XAUTOCLAIM then counts the
        new delivery, so a job that keeps being interrupted still ends as "interrupted too often".
        """
        await self._redis.xclaim(
            STREAM, GROUP, self._consumer, 0, [entry_id], idle=self._stale_after_ms + 1000, justid=True
        )

    async def backlog(self) -> tuple[int, int]:
        """(jobs waiting or running, of which running): XLEN (finished jobs are deleted) and XPENDING."""
        await self._ensure_group()
        length = int(await self._redis.xlen(STREAM))
        summary = await self._redis.xpending(STREAM, GROUP)
        return length, int(summary["pending"])

    async def forget_idle_consumers(self) -> None:
        """Drops consumers of gone processes that own no job (names are per process, so they pile up)."""
        await self._ensure_group()
        for consumer in await self._redis.xinfo_consumers(STREAM, GROUP):
            name = str(consumer["name"])
            idle_ms = int(consumer.get("inactive", consumer["idle"]))
            if name != self._consumer and int(consumer["pending"]) == 0 and idle_ms > self._stale_after_ms:
                await self._redis.xgroup_delconsumer(STREAM, GROUP, name)

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


def consumer_name() -> str:
    """A consumer name of its own for this process: host and pid, plus a suffix against pid reuse."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
