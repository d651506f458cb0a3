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
# Issue 14: "ask a human" hand-offs, one hash per asking chat, and an index from each message that
# carries a hand-off (in a group, or in each global admin's private chat) to the hand-off it carries.
_HANDOFFS = "kb:handoffs"
_HANDOFF_POST = "kb:handoff-post"
_HANDOFF_TAKEN = "kb:handoff-taken"


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

    async def save_handoff(
        self, chat_id: int, answer_id: str, record: dict[str, Any], posts: list[tuple[int, int]]
    ) -> None:
        """Stores the record and indexes each (chat id, message id) that carries it."""
        key = f"{_HANDOFFS}:{chat_id}"
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, answer_id, json.dumps(record, ensure_ascii=False))
            pipe.expire(key, self._retention_s)
            for post_chat, post_message in posts:
                pipe.set(
                    f"{_HANDOFF_POST}:{post_chat}:{post_message}",
                    f"{chat_id}:{answer_id}",
                    ex=self._retention_s,
                )
            await pipe.execute()

    async def handoff(self, chat_id: int, answer_id: str) -> dict[str, Any] | None:
        raw = await self._redis.hget(f"{_HANDOFFS}:{chat_id}", answer_id)
        return None if raw is None else dict(json.loads(raw))

    async def handoff_at(self, post_chat: int, post_message: int) -> tuple[int, str] | None:
        """(asking chat id, answer id) of the hand-off carried by that message, if any."""
        raw = await self._redis.get(f"{_HANDOFF_POST}:{post_chat}:{post_message}")
        if raw is None:
            return None
        chat, _, answer_id = str(raw).partition(":")
        return int(chat), answer_id

    async def claim_handoff(self, chat_id: int, answer_id: str, user_id: int) -> bool:
        """True for the first admin to take the hand-off only, across all replicas."""
        key = f"{_HANDOFF_TAKEN}:{chat_id}:{answer_id}"
        return bool(await self._redis.set(key, str(user_id), nx=True, ex=self._retention_s))

    async def handoffs(self, chat_id: int | None) -> list[dict[str, Any]]:
        """Hand-offs of one chat, or of every chat when `chat_id` is None."""
        if chat_id is not None:
            keys = [f"{_HANDOFFS}:{chat_id}"]
        else:
            keys = [key async for key in self._redis.scan_iter(match=f"{_HANDOFFS}:*")]
        rows: list[dict[str, Any]] = []
        for key in keys:
            values = cast(dict[str, str], await self._redis.hgetall(key))
            rows.extend(json.loads(value) for value in values.values())
        return rows
