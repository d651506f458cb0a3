"""An album's items may reach different replicas (webhook behind a load balancer): the collection
lives in Redis, and exactly one replica gets the whole album once it has been quiet for the window."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from bot.ingest.albums import AlbumCollector, AlbumItem
from bot.storage.albums import AlbumBuffer


def _item(message_id: int, caption: str | None = None) -> AlbumItem:
    return AlbumItem(message_id, f"file-{message_id}", f"doc-{message_id}.pdf", 1000, caption)


async def test_items_spread_over_replicas_come_back_as_one_album_on_one_of_them(redis: Redis) -> None:
    replicas = [AlbumCollector(AlbumBuffer(redis), window_s=0.4) for _ in range(3)]

    async def arrive(replica: AlbumCollector, item: AlbumItem, after_s: float) -> list[AlbumItem]:
        await asyncio.sleep(after_s)
        return await replica.collect(-100, "album-7", item)

    # The third file arrives 0.3 s after the first: within the window, so it still belongs to the set.
    results = await asyncio.gather(
        arrive(replicas[0], _item(12, "/upload"), 0.0),
        arrive(replicas[1], _item(14), 0.3),
        arrive(replicas[2], _item(13), 0.1),
    )
    albums = [r for r in results if r]
    assert len(albums) == 1
    assert [i.message_id for i in albums[0]] == [12, 13, 14]
    assert albums[0][0].caption == "/upload"
    # Nothing is left behind in Redis.
    assert await redis.keys("kb:album:*") == []


async def test_albums_of_different_chats_do_not_mix(redis: Redis) -> None:
    collector = AlbumCollector(AlbumBuffer(redis), window_s=0.2)
    first, second = await asyncio.gather(
        collector.collect(1, "same-id", _item(1)), collector.collect(2, "same-id", _item(2))
    )
    assert [i.message_id for i in first] == [1]
    assert [i.message_id for i in second] == [2]
