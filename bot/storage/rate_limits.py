"""Rate limits shared by every bot replica, kept in Redis by the `limits` library."""

from __future__ import annotations

import asyncio
import functools
import time
from typing import Any

import limits
from limits.aio.storage import RedisStorage
from limits.aio.strategies import FixedWindowRateLimiter, MovingWindowRateLimiter
from redis.asyncio import ConnectionPool, Redis

from bot.storage.redis_outage import or_fallback

# Every question checks a few rates; parse each rate string once.
_parse = functools.lru_cache(maxsize=64)(limits.parse)


def _storage(pool: ConnectionPool) -> RedisStorage:
    # The URI only selects redis-py; connections come from our pool, which the composition root closes.
    options: dict[str, Any] = {"connection_pool": pool}  # typed too narrowly upstream
    return RedisStorage("async+redis://pool:6379", implementation="redispy", **options)


class WindowCounter:
    """Fixed-window counters: `hit` says whether one more event fits, else how long until it does."""

    def __init__(self, pool: ConnectionPool) -> None:
        self._limiter = FixedWindowRateLimiter(_storage(pool))

    async def hit(self, rate: str, *key: str) -> float | None:
        """None when allowed (also while Redis is unreachable: no limits then, logged once);
        otherwise the seconds until the window resets."""
        return await or_fallback(self._hit(rate, *key), None, "rate limits")

    async def _hit(self, rate: str, *key: str) -> float | None:
        item = _parse(rate)
        if await self._limiter.hit(item, *key):
            return None
        stats = await self._limiter.get_window_stats(item, *key)
        return max(0.0, stats.reset_time - time.time())


class WaitingQuestions:
    """How many of each user's questions wait for their rate window, shared by every replica (Redis)."""

    def __init__(self, redis: Redis, ttl_s: int = 600) -> None:
        self._redis = redis
        self._ttl_s = ttl_s  # a replica that dies mid-wait must not leave a user "waiting" forever

    async def join(self, user_id: int) -> int:
        """Counts one more waiting question; returns how many wait now, this one included."""
        key = f"kb:waiting:{user_id}"
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, self._ttl_s)
            count, _ = await pipe.execute()
        return int(count)

    async def leave(self, user_id: int) -> None:
        await self._redis.decr(f"kb:waiting:{user_id}")


class SendPacer:
    """Waits until one more message fits a chat's moving window (Telegram's ~20 a minute per group)."""

    def __init__(self, pool: ConnectionPool, rate: str) -> None:
        self._limiter = MovingWindowRateLimiter(_storage(pool))
        self._item = limits.parse(rate)

    async def has_room(self, chat_id: int) -> bool:
        """True when one more message fits the chat's window now (nothing is counted)."""
        return await or_fallback(self._limiter.test(self._item, "send", str(chat_id)), True, "send pacing")

    async def wait_turn(self, chat_id: int) -> float:
        """Blocks until the message may go; returns how long it waited. While Redis is unreachable
        messages go unpaced (Telegram's 429s are still honoured), logged once per outage."""
        return await or_fallback(self._wait_turn(chat_id), 0.0, "send pacing")

    async def _wait_turn(self, chat_id: int) -> float:
        waited = 0.0
        while not await self._limiter.hit(self._item, "send", str(chat_id)):
            stats = await self._limiter.get_window_stats(self._item, "send", str(chat_id))
            # Other replicas may take the freed slot first, so re-check after each wait.
            delay = min(max(stats.reset_time - time.time(), 0.05), float(self._item.get_expiry()))
            await asyncio.sleep(delay)
            waited += delay
        return waited
