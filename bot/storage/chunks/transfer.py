"""Copying a collection's points between engines and files, vectors included (nothing is re-embedded).

Used by `kb-bot migrate` (old embedded store → Qdrant Edge) and by `kb-bot backup` / `restore`. A
backup folder holds `collection.json` (the collection metadata: schema version, embedding model and
dimension) and `chunks.jsonl.gz` (one point a line: id, payload, dense and sparse vectors). The
format is the same for both engines, so a backup of a server restores into Edge and back.
"""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from bot.domain import SparseVector
from bot.storage.chunks.interface import CollectionBackend, StoredPoint
from bot.storage.migrator import MigrationContext, SchemaError, check_model, discover_migrations, migrate

BATCH = 256
POINTS_FILE = "chunks.jsonl.gz"
METADATA_FILE = "collection.json"


async def read_points(backend: CollectionBackend) -> AsyncIterator[list[StoredPoint]]:
    """Every point with its payload and vectors, in batches."""
    offset: str | None = None
    while True:
        points, offset = await backend.scroll([], BATCH, offset, with_vectors=True)
        if points:
            yield points
        if offset is None:
            return


async def fill(ctx: MigrationContext, batches: AsyncIterator[list[StoredPoint]]) -> int:
    """Brings ctx's collection to the latest schema, writes every point, then re-applies each step.

    The steps are idempotent, so re-applying them only does what the copied points still need
    (m0002 backfills sparse vectors of points from a collection that had none). Returns the count.
    """
    await migrate(ctx)
    copied = 0
    async for batch in batches:
        await ctx.backend.upsert(batch)
        copied += len(batch)
    for step in discover_migrations():
        await step.apply(ctx)
    await ctx.backend.maintain()
    return copied


async def dump(backend: CollectionBackend, folder: Path) -> int:
    """Writes the collection into `folder` (created); returns the number of points written."""
    metadata = await backend.read_metadata()
    if metadata is None:
        raise SchemaError(f"Qdrant collection '{backend.collection}' does not exist: nothing to back up.")
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    written = 0
    with gzip.open(folder / POINTS_FILE, "wt", encoding="utf-8") as out:
        async for batch in read_points(backend):
            lines = "".join(json.dumps(_to_json(p), ensure_ascii=False) + "\n" for p in batch)
            await asyncio.to_thread(out.write, lines)
            written += len(batch)
    (folder / METADATA_FILE).write_text(
        json.dumps({**metadata, "points": written}, ensure_ascii=False, indent=1), encoding="utf-8"
    )
    return written


def read_metadata_file(folder: Path) -> dict[str, Any]:
    path = folder / METADATA_FILE
    if not path.is_file() or not (folder / POINTS_FILE).is_file():
        raise SchemaError(f"{folder} is not a backup: expected {METADATA_FILE} and {POINTS_FILE} in it.")
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


async def load(ctx: MigrationContext, folder: Path) -> int:
    """Restores a `dump` into ctx's collection, which must hold no chunks yet; returns the count.

    Raises SchemaError if the backup's vectors come from another embedding model, if it is
    incomplete, or if the target already has chunks (a restore never merges into a live base).
    """
    metadata = read_metadata_file(folder)
    check_model(ctx, metadata)
    if await ctx.backend.exists() and await ctx.backend.count([]) > 0:
        raise SchemaError(
            f"Qdrant collection '{ctx.collection}' already has chunks: restore into an empty store "
            "(a new QDRANT_PATH or QDRANT_COLLECTION)."
        )
    restored = await fill(ctx, _read_file(folder / POINTS_FILE))
    if restored != metadata.get("points"):
        raise SchemaError(f"{folder} holds {restored} chunks, its metadata says {metadata.get('points')}")
    return restored


async def _read_file(path: Path) -> AsyncIterator[list[StoredPoint]]:
    lines = _lines(path)
    while True:
        chunk = await asyncio.to_thread(_take, lines, BATCH)
        if not chunk:
            return
        yield [_from_json(json.loads(line)) for line in chunk]


def _lines(path: Path) -> Iterator[str]:
    with gzip.open(path, "rt", encoding="utf-8") as source:
        yield from source


def _take(lines: Iterator[str], n: int) -> list[str]:
    return [line for _, line in zip(range(n), lines, strict=False)]


def _to_json(point: StoredPoint) -> dict[str, Any]:
    sparse = (
        None if point.sparse is None else {"indices": point.sparse.indices, "values": point.sparse.values}
    )
    return {"id": point.id, "payload": point.payload, "dense": point.dense, "sparse": sparse}


def _from_json(row: dict[str, Any]) -> StoredPoint:
    sparse = row.get("sparse")
    return StoredPoint(
        id=str(row["id"]),
        payload=dict(row["payload"]),
        dense=row.get("dense"),
        sparse=None if sparse is None else SparseVector(list(sparse["indices"]), list(sparse["values"])),
    )
