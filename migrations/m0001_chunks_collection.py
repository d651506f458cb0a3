"""Create the chunks collection: one named dense vector and indexes for every filtered field."""

from __future__ import annotations

from bot.storage.chunks.interface import IndexKind
from bot.storage.migrator import MigrationContext

VERSION = 1

INDEXES: dict[str, IndexKind] = {
    "doc_id": "keyword",
    "scope": "keyword",
    "status": "keyword",
    "content_hash": "keyword",
    "chunk_index": "integer",
    "uploaded_at": "float",
}


async def apply(ctx: MigrationContext) -> None:
    if not await ctx.backend.exists():
        await ctx.backend.create(ctx.dim, ctx.base_metadata(), ctx.settings)
    # Creating an index that exists is a no-op on both engines, so a re-run is safe.
    for field, kind in INDEXES.items():
        await ctx.backend.create_index(field, kind)
