"""Add the sparse BM25 vector (IDF applied by Qdrant) and backfill it for every existing chunk."""

from __future__ import annotations

from bot.domain import search_text
from bot.storage.chunks.interface import SPARSE_VECTOR, LacksVector
from bot.storage.migrator import MigrationContext

VERSION = 2

_BATCH = 256


async def apply(ctx: MigrationContext) -> None:
    if not await ctx.backend.has_sparse_vector(SPARSE_VECTOR):
        # Needs Qdrant >= 1.18 on a server; Edge has it.
        await ctx.backend.create_sparse_vector(SPARSE_VECTOR)
    # Only chunks without the vector: an interrupted run resumes instead of starting over.
    offset: str | None = None
    while True:
        points, offset = await ctx.backend.scroll(
            [LacksVector(SPARSE_VECTOR)], _BATCH, offset, fields=["title", "section", "text"]
        )
        if points:
            if ctx.sparse is None:
                raise RuntimeError("m0002 needs the sparse encoder to backfill existing chunks")
            vectors = await ctx.sparse.embed_passages(
                [
                    search_text(str(p.payload["title"]), p.payload.get("section"), str(p.payload["text"]))
                    for p in points
                ]
            )
            await ctx.backend.set_sparse_vectors([(p.id, v) for p, v in zip(points, vectors, strict=True)])
        if offset is None:
            break
    metadata: dict[str, str] = {"sparse_vector_name": SPARSE_VECTOR}
    if ctx.sparse is not None:
        metadata["sparse_model"] = ctx.sparse.model_name
    await ctx.backend.update_metadata(metadata)
