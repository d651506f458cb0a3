"""Which Telegram updates some replica already took: one Redis key per update_id, SET NX with an expiry.

Telegram redelivers a webhook update it did not see answered (a timeout, a replica that died), and a load
balancer may hand the retry to another replica; the first replica to claim an update_id processes it.
"""

from __future__ import annotations

from redis.asyncio import Redis

# Telegram keeps an undelivered update for at most 24 hours (Bot API, "Getting updates").
SEEN_TTL_S = 24 * 3600


class SeenUpdates:
    def __init__(self, redis: Redis, bot_id: int, ttl_s: int = SEEN_TTL_S) -> None:
        self._redis = redis
        self._prefix = f"kb:update:{bot_id}:"
        self._ttl_s = ttl_s

    async def claim(self, update_id: int) -> bool:
        """True for the first claim of `update_id` across all replicas, False for every later one."""
        return bool(await self._redis.set(self._prefix + str(update_id), "1", nx=True, ex=self._ttl_s))

    async def release(self, update_id: int) -> None:
        """Forgets a claim whose update was never processed, so Telegram's retry is taken again."""
        await self._redis.delete(self._prefix + str(update_id))
