"""A short-lived Redis cache of "is this user an admin of this group" (getChatMember is rate-limited)."""

from __future__ import annotations

from redis.asyncio import Redis

from bot.storage.redis_outage import or_fallback

_KEY_PREFIX = "kb:chat-admin"


def _key(chat_id: int, user_id: int) -> str:
    return f"{_KEY_PREFIX}:{chat_id}:{user_id}"


class AdminCacheStore:
    def __init__(self, redis: Redis, ttl_s: int) -> None:
        self._redis = redis
        self._ttl_s = ttl_s

    async def get(self, chat_id: int, user_id: int) -> bool | None:
        if self._ttl_s == 0:
            return None
        # Redis down: ask Telegram again rather than fail the command.
        value = await or_fallback(self._redis.get(_key(chat_id, user_id)), None, "admin cache")
        return None if value is None else value == "1"

    async def put(self, chat_id: int, user_id: int, is_admin: bool) -> None:
        if self._ttl_s:
            await or_fallback(
                self._redis.set(_key(chat_id, user_id), "1" if is_admin else "0", ex=self._ttl_s),
                None,
                "admin cache",
            )
