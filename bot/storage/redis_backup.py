"""The Redis keys worth a backup, saved and restored with Redis's own DUMP / RESTORE (exact values,
remaining TTLs kept). History, rate-limit windows and the upload job stream are left out: they are
short-lived, and a restored bot starts clean on them."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from redis.asyncio import ConnectionPool, Redis

# Chat settings, answers kept for rating, ratings, escalation marks, the admin-check cache.
BACKED_UP = ("kb:chat-settings:*", "kb:answer:*", "kb:feedback:*", "kb:escalated:*", "kb:chat-admin:*")
REDIS_FILE = "redis.json"


async def dump_keys(pool: ConnectionPool, folder: Path) -> int:
    """Writes every backed-up key to `folder/redis.json`; returns how many. `pool` speaks bytes (DUMP
    payloads are binary): `RedisConnections.pool`, so a Sentinel-watched master is the one read."""
    client: Redis = Redis(connection_pool=pool)
    try:
        rows = []
        for pattern in BACKED_UP:
            async for key in client.scan_iter(match=pattern, count=500):
                payload = await client.dump(key)
                if payload is None:  # expired between SCAN and DUMP
                    continue
                ttl_ms = int(await client.pttl(key))
                if ttl_ms == -2:  # expired after DUMP
                    continue
                rows.append(
                    {
                        "key": base64.b64encode(key).decode(),
                        "value": base64.b64encode(payload).decode(),
                        "ttl_ms": max(ttl_ms, 0),  # -1: no expiry, which RESTORE writes as 0
                    }
                )
    finally:
        await client.aclose()
    (folder / REDIS_FILE).write_text(json.dumps(rows), encoding="utf-8")
    return len(rows)


async def restore_keys(pool: ConnectionPool, folder: Path) -> int:
    """Puts the keys of `folder/redis.json` back (replacing keys of the same name) through `pool` (bytes,
    as `dump_keys`); returns how many."""
    rows = json.loads((folder / REDIS_FILE).read_text(encoding="utf-8"))
    client: Redis = Redis(connection_pool=pool)
    try:
        async with client.pipeline(transaction=False) as pipe:
            for row in rows:
                pipe.restore(
                    base64.b64decode(row["key"]), row["ttl_ms"], base64.b64decode(row["value"]), replace=True
                )
            await pipe.execute()
    finally:
        await client.aclose()
    return len(rows)
