"""Redis side of the outbox and the question journal: pending deliveries and unanswered questions.

Both are hashes keyed by id whose values are JSON written by bot/delivery/outbox.py; they survive a
restart (with Redis persistence). Each bot process has its own pair, named by its stable owner name (the
host name, as for upload jobs), so a restarting replica resumes its own work and never another
replica's work in progress. A delivery replaces the question it answers in one transaction, so a
question is never both re-answered and re-delivered.
"""

from __future__ import annotations

from typing import cast

from redis.asyncio import Redis

from bot.storage.redis_outage import or_fallback

OUTBOX = "kb:outbox"
JOURNAL = "kb:questions"


class OutboxStore:
    """Pending deliveries (id → JSON) and unanswered questions (key → the update's JSON).

    Every call degrades to "not kept" while Redis is unreachable (logged once per outage): the
    answer is still sent, it just would not survive a restart during the outage.
    """

    def __init__(self, redis: Redis, owner: str) -> None:
        self._redis = redis
        self._outbox = f"{OUTBOX}:{owner}"
        self._journal = f"{JOURNAL}:{owner}"

    async def save_delivery(self, delivery_id: str, payload: str, settles: str | None) -> None:
        """Keeps a delivery and, in the same transaction, forgets the question it answers."""

        async def save() -> None:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hset(self._outbox, delivery_id, payload)
                if settles:
                    pipe.hdel(self._journal, settles)
                await pipe.execute()

        await or_fallback(save(), None, "outbox")

    async def delivered(self, delivery_id: str) -> None:
        await or_fallback(self._redis.hdel(self._outbox, delivery_id), 0, "outbox")

    async def pending_deliveries(self) -> dict[str, str]:
        return cast(dict[str, str], await or_fallback(self._redis.hgetall(self._outbox), {}, "outbox"))

    async def journal_question(self, key: str, update_json: str) -> None:
        await or_fallback(self._redis.hset(self._journal, key, update_json), 0, "question journal")

    async def settle_question(self, key: str) -> None:
        await or_fallback(self._redis.hdel(self._journal, key), 0, "question journal")

    async def unanswered_questions(self) -> dict[str, str]:
        return cast(
            dict[str, str], await or_fallback(self._redis.hgetall(self._journal), {}, "question journal")
        )
