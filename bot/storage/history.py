"""Per-chat (and per forum topic) conversation history in Redis.

Only questions and final answers are kept, never the retrieved documents: the documents are
fetched again for every question, and storing them would bloat every later prompt.
"""

from __future__ import annotations

import json
import logging

from redis.asyncio import Redis

from bot.domain import Turn
from bot.storage.redis_outage import OUTAGE, OUTAGE_ERRORS

_KEY_PREFIX = "kb:history"
# One long answer must not crowd every earlier turn out of the history budget.
MAX_ENTRY_CHARS = 1500

log = logging.getLogger(__name__)


def history_key(chat_id: int, thread_id: int | None) -> str:
    return f"{_KEY_PREFIX}:{chat_id}:{thread_id or 0}"


class ChatHistory:
    def __init__(self, redis: Redis, *, max_turns: int, ttl_s: int) -> None:
        self._redis = redis
        # A "turn" is one question plus its answer: two list entries.
        self._max_entries = max_turns * 2
        self._ttl_s = ttl_s

    async def recent(self, chat_id: int, thread_id: int | None, budget_chars: int) -> list[Turn]:
        """The newest turns that fit in `budget_chars`, oldest first, always whole Q+A pairs."""
        if self._max_entries == 0 or budget_chars <= 0:
            return []
        try:
            raw = await self._redis.lrange(history_key(chat_id, thread_id), 0, -1)
        except OUTAGE_ERRORS as exc:
            # Answering without context beats not answering at all.
            OUTAGE.failed("history", exc)
            return []
        OUTAGE.succeeded()
        turns = [Turn(**json.loads(item)) for item in raw]
        kept: list[Turn] = []
        used = 0
        # Walk back pair by pair so the model never sees an answer without its question.
        for end in range(len(turns), 1, -2):
            pair = turns[end - 2 : end]
            size = sum(len(t.content) for t in pair)
            if used + size > budget_chars:
                break
            kept[:0] = pair
            used += size
        return kept

    async def append(
        self, chat_id: int, thread_id: int | None, question: str, answer: str, speaker: str | None = None
    ) -> None:
        if self._max_entries == 0:
            return
        key = history_key(chat_id, thread_id)
        asked: dict[str, str] = {"role": "user", "content": _clip(question)}
        if speaker:
            asked["speaker"] = speaker
        entries = [
            json.dumps(asked, ensure_ascii=False),
            json.dumps({"role": "assistant", "content": _clip(answer)}, ensure_ascii=False),
        ]
        try:
            # One transaction: concurrent replicas never interleave half a turn or skip the trim.
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.rpush(key, *entries)
                pipe.ltrim(key, -self._max_entries, -1)
                pipe.expire(key, self._ttl_s)
                await pipe.execute()
        except OUTAGE_ERRORS as exc:
            OUTAGE.failed("history", exc)

    async def clear(self, chat_id: int, thread_id: int | None) -> None:
        await self._redis.delete(history_key(chat_id, thread_id))

    async def size(self, chat_id: int, thread_id: int | None) -> int:
        return int(await self._redis.llen(history_key(chat_id, thread_id)))


def _clip(text: str) -> str:
    return text if len(text) <= MAX_ENTRY_CHARS else text[: MAX_ENTRY_CHARS - 1] + "…"
