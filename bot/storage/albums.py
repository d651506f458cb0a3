"""The files of a Telegram album (one `media_group_id`) while they arrive, kept in Redis.

Telegram sends an album as separate messages, and with several replicas behind a webhook they can
reach different processes, so the collection lives in Redis, not in a process. A "quiet" key, whose
expiry every new item pushes back by the collection window, says when the album stopped growing:
no clocks are compared between replicas.
"""

from __future__ import annotations

import json
from typing import Any

from redis.asyncio import Redis

_PREFIX = "kb:album:"


class AlbumBuffer:
    def __init__(self, redis: Redis, *, keep_s: float = 600.0) -> None:
        self._redis = redis
        self._keep_ms = int(keep_s * 1000)  # a forgotten album's items expire after this

    async def add(self, album: str, item: dict[str, Any], quiet_after_s: float) -> None:
        """Appends `item` (JSON-serialisable) and restarts the album's quiet timer."""
        items, quiet = _keys(album)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.rpush(items, json.dumps(item, ensure_ascii=False))
            pipe.pexpire(items, self._keep_ms)
            pipe.set(quiet, "1", px=max(1, int(quiet_after_s * 1000)))
            await pipe.execute()

    async def seconds_until_quiet(self, album: str) -> float:
        """0 once no item has arrived for the window, else how long at most until then."""
        remaining_ms = int(await self._redis.pttl(_keys(album)[1]))
        return max(0.0, remaining_ms / 1000)

    async def take(self, album: str) -> list[dict[str, Any]]:
        """All items, removed in one transaction: of several replicas asking, one gets them, the rest []."""
        items, _ = _keys(album)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.lrange(items, 0, -1)
            pipe.delete(items)
            raw, _ = await pipe.execute()
        return [json.loads(entry) for entry in raw]


def _keys(album: str) -> tuple[str, str]:
    return f"{_PREFIX}{album}:items", f"{_PREFIX}{album}:quiet"
