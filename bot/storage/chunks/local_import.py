"""Moves a collection of qdrant-client's local mode (the bot's embedded store before Qdrant Edge) into
an Edge collection, vectors and all: nothing is embedded again and nothing is lost.

The old store is a folder with `meta.json` and `collection/<name>/storage.sqlite`; qdrant-client
reads it whole into memory, which is fine once, for the move. The old folder is left as it was.
"""

from __future__ import annotations

import fcntl
from pathlib import Path

from qdrant_client import AsyncQdrantClient

from bot.storage.chunks.edge import EdgeCollection, StoreInUseError
from bot.storage.chunks.server import ServerCollection
from bot.storage.chunks.transfer import fill, read_points
from bot.storage.migrator import MigrationContext, SchemaError, check_model

IMPORTED_KEY = "imported_from_local_mode"


def _ensure_unlocked(path: Path) -> None:
    """Asks the lock qdrant-client takes on `.lock` (flock) first: qdrant-client, refused, leaves the
    file open behind it."""
    lock_file = path / ".lock"
    if not lock_file.exists():
        return
    with lock_file.open("r+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StoreInUseError(f"{path} is open in another process (the bot before Qdrant Edge)") from None
        fcntl.flock(handle, fcntl.LOCK_UN)


def has_local_mode_collection(path: Path, collection: str) -> bool:
    return (path / "collection" / collection).is_dir() and (path / "meta.json").is_file()


async def import_local_mode(path: Path, ctx: MigrationContext, target: EdgeCollection) -> int | None:
    """Copies every point of the local-mode collection at `path` into `target`; returns how many.

    None when an earlier run already moved it. Raises StoreInUseError if a running bot holds the
    old folder (POSIX only, as the bot's container is), SchemaError if its vectors were made by
    another embedding model than the bot's.
    The target is brought to the latest schema first and every step is re-applied after the copy
    (all steps are idempotent), so an old collection without sparse vectors gets them backfilled.
    """
    metadata = await target.read_metadata()
    if metadata and metadata.get(IMPORTED_KEY):
        return None
    _ensure_unlocked(path)
    client = AsyncQdrantClient(path=str(path))
    source = ServerCollection(client, target.collection, ctx.vector_name)
    try:
        old = await source.read_metadata()
        if old is None:
            raise SchemaError(f"{path} has no collection '{target.collection}'")
        check_model(ctx, old)
        expected = await source.count([])
        await fill(ctx, read_points(source))
    finally:
        await source.close()
    moved = await target.count([])
    if moved < expected:
        raise SchemaError(f"only {moved} of {expected} chunks reached Qdrant Edge; run migrate again")
    await target.update_metadata({IMPORTED_KEY: str(path)})
    return expected
