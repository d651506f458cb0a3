"""REDIS_SENTINELS: the one Redis factory finds the master through a real Sentinel (redis-server --sentinel),
and both the str client and the limits library's byte pool work through it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.app import backup_store, restore_store, run_migrations
from bot.embed.embedder import Embedder
from bot.embed.sparse import SparseEmbedder
from bot.storage.rate_limits import WindowCounter
from bot.storage.redis_connections import RedisConnections, connect_redis
from bot.storage.redis_server import RedisServerProcess, redis_server_binary
from tests.conftest import SettingsFactory, free_port


@pytest.fixture
async def sentinel(tmp_path: Path) -> AsyncIterator[int]:
    """A master on its own port and one Sentinel watching it as "kb"; yields the Sentinel's port."""
    master_port, sentinel_port = free_port(), free_port()
    master = RedisServerProcess(tmp_path / "master", port=master_port, persist=False)
    await master.start()
    config = tmp_path / "sentinel.conf"  # Sentinel rewrites its config file, so it must be writable
    config.write_text(
        f"port {sentinel_port}\nbind 127.0.0.1\ndir {tmp_path}\n"
        f"sentinel monitor kb 127.0.0.1 {master_port} 1\n"
    )
    process = await asyncio.create_subprocess_exec(
        redis_server_binary(),
        str(config),
        "--sentinel",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        yield sentinel_port
    finally:
        process.terminate()
        await process.wait()
        await master.stop()


async def test_clients_reach_the_master_the_sentinel_names(sentinel: int) -> None:
    connections = connect_redis(sentinels=[("127.0.0.1", sentinel)], master="kb")
    try:
        await _until_up(connections)
        await connections.client.set("kb:probe", "через sentinel")
        assert await connections.client.get("kb:probe") == "через sentinel"
        counter = WindowCounter(connections.pool)
        assert await counter.hit("2/minute", "user", "1") is None
        assert await counter.hit("2/minute", "user", "1") is None
        wait = await counter.hit("2/minute", "user", "1")
        assert wait is not None
        assert 0 < wait <= 60
    finally:
        await connections.close()


async def test_a_backup_with_sentinels_saves_and_restores_the_master_they_name(
    sentinel: int,
    make_settings: SettingsFactory,
    tmp_path: Path,
    embedder: Embedder,
    sparse_embedder: SparseEmbedder,
) -> None:
    # With REDIS_SENTINELS and no REDIS_URL, backup and restore used to start an empty embedded
    # redis-server: the backup held none of the chats' settings or ratings, and a restore put nothing back.
    sentinels = {"redis_url": "", "redis_sentinels": f"127.0.0.1:{sentinel}", "redis_sentinel_master": "kb"}
    settings = make_settings(qdrant_path=tmp_path / "before", **sentinels)
    await run_migrations(settings, embedder, sparse_embedder)
    connections = connect_redis(sentinels=[("127.0.0.1", sentinel)], master="kb")
    try:
        await _until_up(connections)
        await connections.client.hset("kb:chat-settings:-100", mapping={"language": "en"})
        saved = await backup_store(settings, tmp_path / "backup")
        assert saved.redis_keys == 1
        await connections.client.flushall()
        restored = await restore_store(
            make_settings(qdrant_path=tmp_path / "after", **sentinels), tmp_path / "backup", sparse_embedder
        )
        assert restored.redis_keys == 1
        assert await connections.client.hgetall("kb:chat-settings:-100") == {"language": "en"}
    finally:
        await connections.close()


async def _until_up(connections: RedisConnections) -> None:
    for _ in range(100):  # the Sentinel needs a moment to start listening
        try:
            await connections.ping()
            return
        except Exception:
            await asyncio.sleep(0.1)
