"""Albums: files sent together arrive as separate messages sharing a `media_group_id`, and Telegram puts
the caption (e.g. `/upload`) on the first one only. They are collected until the album has been quiet
for a short window, then handled as one set (https://core.telegram.org/bots/api#message, media_group_id).
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class AlbumItem:
    """One document of an album, as the handler saw it."""

    message_id: int
    file_id: str
    file_name: str
    size: int | None
    caption: str | None


class AlbumStore(Protocol):
    async def add(self, album: str, item: dict[str, Any], quiet_after_s: float) -> None: ...
    async def seconds_until_quiet(self, album: str) -> float: ...
    async def take(self, album: str) -> list[dict[str, Any]]: ...


class AlbumCollector:
    def __init__(self, store: AlbumStore, *, window_s: float) -> None:
        self._store = store
        self.window_s = window_s

    async def collect(self, chat_id: int, media_group_id: str, item: AlbumItem) -> list[AlbumItem]:
        """Adds `item`, waits until the album is quiet, and returns the whole album in message order.

        Every item's handler calls this (on whichever replica got it); exactly one of them receives
        the album, the others an empty list.
        """
        album = f"{chat_id}:{media_group_id}"
        await self._store.add(album, asdict(item), self.window_s)
        # The quiet timer lives in Redis (any replica may add to it), so it is polled, not awaited.
        remaining = self.window_s
        while remaining > 0:
            await asyncio.sleep(remaining)
            remaining = await self._store.seconds_until_quiet(album)
        items = [AlbumItem(**entry) for entry in await self._store.take(album)]
        return sorted(items, key=lambda i: i.message_id)
