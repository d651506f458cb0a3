"""Answers kept for rating, and the ratings themselves, in Redis with a retention TTL.

An answer record is written when the answer is sent (the buttons carry its id); a rating copies
what an export needs from it, so ratings stay readable after the record expires.
"""

from __future__ import annotations

import json
from typing import Any, cast

from redis.asyncio import Redis

from bot.storage.redis_outage import or_fallback

_ANSWER = "kb:answer"
_RATINGS = "kb:feedback"
_ESCALATED = "kb:escalated"


class FeedbackStore:
    def __init__(self, redis: Redis, retention_s: int) -> None:
        self._redis = redis
        self._retention_s = retention_s

    async def save_answer(self, answer_id: str, record: dict[str, Any]) -> None:
        # Redis down: the answer still goes out; only its rating buttons won't find it.
        await or_fallback(
            self._redis.set(
                f"{_ANSWER}:{answer_id}", json.dumps(record, ensure_ascii=False), ex=self._retention_s
            ),
            None,
            "feedback",
        )

    async def answer(self, answer_id: str) -> dict[str, Any] | None:
        raw = await self._redis.get(f"{_ANSWER}:{answer_id}")
        return None if raw is None else dict(json.loads(raw))

    async def save_rating(self, chat_id: int, answer_id: str, user_id: int, row: dict[str, Any]) -> None:
        """One rating per user and answer: pressing again replaces it."""
        key = f"{_RATINGS}:{chat_id}"
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, f"{answer_id}:{user_id}", json.dumps(row, ensure_ascii=False))
            pipe.expire(key, self._retention_s)
            await pipe.execute()

    async def ratings(self, chat_id: int | None) -> list[dict[str, Any]]:
        """Ratings of one chat, or of every chat when `chat_id` is None."""
        if chat_id is not None:
            keys = [f"{_RATINGS}:{chat_id}"]
        else:
            keys = [key async for key in self._redis.scan_iter(match=f"{_RATINGS}:*")]
        rows: list[dict[str, Any]] = []
        for key in keys:
            values = cast(dict[str, str], await self._redis.hgetall(key))  # decode_responses=True
            rows.extend(json.loads(value) for value in values.values())
        return rows

    async def claim_escalation(self, answer_id: str) -> bool:
        """True for the first "ask a human" on an answer only, across all replicas."""
        return bool(await self._redis.set(f"{_ESCALATED}:{answer_id}", "1", nx=True, ex=self._retention_s))
