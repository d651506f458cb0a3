"""A durable ingestion queue on a Redis stream with a consumer group, fair across chats.

Redis keeps every job until a worker acknowledges it, so a job survives a crash or restart. Each worker
process has its own consumer name (host, pid and a random suffix). A worker that stops cleanly hands its
unfinished job back (`release`), and any worker takes it at once; a crashed worker's job is taken over
once it has been idle for `stale_after_s`. A running job refreshes its idle time (`touch`) as it makes
progress, so only dead workers lose their jobs to others.

Fairness (issue 12): a worker reads the waiting jobs into its own pending list and runs them round-robin
by chat (the `chat_id` in the payload), so one chat's pile of uploads delays another chat's upload by
at most the job in progress. `waiting()` counts each chat's queued jobs (a Redis hash), for the cap per
chat and for telling an admin their place.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Any, cast

from redis.asyncio import Redis
from redis.exceptions import ResponseError

STREAM = "kb:ingest:jobs"
GROUP = "ingesters"
WAITING = "kb:ingest:waiting"  # chat id -> jobs queued and not yet acknowledged
_READ_AHEAD = 100  # fresh jobs read at once: enough to see every chat that is waiting


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
        # Jobs read into this worker's pending list, not yet started: chat -> its jobs, oldest first;
        # the dict's order is the round-robin order.
        self._held: OrderedDict[str, deque[QueuedJob]] = OrderedDict()
        self._recovered = False

    async def _ensure_group(self) -> None:
        try:
            await self._redis.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def enqueue(self, payload: dict[str, Any]) -> str:
        """Queues a job whose chat already holds a place (`reserve`)."""
        await self._ensure_group()
        return str(await self._redis.xadd(STREAM, {"job": json.dumps(payload, ensure_ascii=False)}))

    async def reserve(self, chat_id: int, limit: int) -> dict[str, int] | None:
        """Counts one more waiting job for the chat, atomically, unless it already has `limit`; returns
        every chat's count (the new one included), or None when the chat is full."""
        count = int(await self._redis.hincrby(WAITING, str(chat_id), 1))
        if count > limit:
            await self.release(chat_id)
            return None
        return await self.waiting()

    async def release(self, chat_id: int) -> None:
        """Gives back a place taken by `reserve` whose job was never queued."""
        await self._redis.hincrby(WAITING, str(chat_id), -1)

    async def waiting(self) -> dict[str, int]:
        """Jobs queued per chat (including the one running), as counted at enqueue and done."""
        raw = cast(dict[str, str], await self._redis.hgetall(WAITING))
        return {chat: int(count) for chat, count in raw.items() if int(count) > 0}

    async def next(self, block_s: float) -> QueuedJob | None:
        """The next job, round-robin across chats: this worker's unfinished jobs after a restart, a dead
        worker's stale ones, and new ones (waits up to `block_s` when there is nothing to do)."""
        await self._ensure_group()
        if not self._recovered:
            # Our own unacknowledged jobs from before a restart (their delivery count goes up by one).
            own = await self._redis.xreadgroup(GROUP, self._consumer, {STREAM: "0"})
            await self._hold(_entries(own))
            self._recovered = True
        claimed = await self._redis.xautoclaim(
            STREAM, GROUP, self._consumer, min_idle_time=self._stale_after_ms, start_id="0-0", count=1
        )
        await self._hold([(str(entry_id), fields) for entry_id, fields in claimed[1] if fields])
        fresh = await self._redis.xreadgroup(
            GROUP,
            self._consumer,
            {STREAM: ">"},
            count=_READ_AHEAD,
            block=None if self._held else max(1, int(block_s * 1000)),
        )
        await self._hold(_entries(fresh))
        if self._held:
            await self._touch_held()
        return self._take()

    async def _hold(self, entries: list[tuple[str, dict[str, str]]]) -> None:
        held_ids = {job.entry_id for jobs in self._held.values() for job in jobs}
        for entry_id, fields in entries:
            if entry_id in held_ids:
                continue
            pending = await self._redis.xpending_range(STREAM, GROUP, min=entry_id, max=entry_id, count=1)
            deliveries = int(pending[0]["times_delivered"]) if pending else 1
            job = QueuedJob(entry_id, json.loads(fields["job"]), deliveries)
            self._held.setdefault(str(job.payload.get("chat_id")), deque()).append(job)

    def _take(self) -> QueuedJob | None:
        if not self._held:
            return None
        chat, jobs = next(iter(self._held.items()))
        job = jobs.popleft()
        del self._held[chat]
        if jobs:
            self._held[chat] = jobs  # to the back of the round
        return job

    async def _touch_held(self) -> None:
        # Held jobs are this worker's: keep them from looking stale to other replicas.
        ids: list[int | bytes | str | memoryview[int]] = [
            job.entry_id for jobs in self._held.values() for job in jobs
        ]
        await self._redis.xclaim(STREAM, GROUP, self._consumer, 0, ids, justid=True)

    async def touch(self, entry_id: str) -> None:
        """Resets the job's idle time (and the held jobs'): alive, nobody should take them over."""
        await self._redis.xclaim(STREAM, GROUP, self._consumer, 0, [entry_id], justid=True)
        if self._held:
            await self._touch_held()

    async def hand_back(self, entry_id: str) -> None:
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

    async def hand_back_held(self) -> None:
        """At shutdown: jobs read ahead but not started go back too, so the next worker takes them at once."""
        held = [job.entry_id for jobs in self._held.values() for job in jobs]
        self._held.clear()
        for entry_id in held:
            await self.hand_back(entry_id)

    async def done(self, entry_id: str, chat_id: int | None = None) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.xack(STREAM, GROUP, entry_id)
            pipe.xdel(STREAM, entry_id)
            if chat_id is not None:
                pipe.hincrby(WAITING, str(chat_id), -1)
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
