"""Add the sparse BM25 vector (IDF applied by Qdrant) and backfill it for every existing chunk."""

from __future__ import annotations

from qdrant_client import models

from bot.domain import search_text
from bot.storage.chunk_store import SPARSE_VECTOR
from bot.storage.migrator import MigrationContext

VERSION = 2

_BATCH = 256


async def apply(ctx: MigrationContext) -> None:
    info = await ctx.client.get_collection(ctx.collection)
    if SPARSE_VECTOR not in (info.config.params.sparse_vectors or {}):
        # Needs Qdrant >= 1.18 on a server; embedded mode has it too.
        await ctx.client.create_vector_name(
            ctx.collection,
            SPARSE_VECTOR,
            models.SparseVectorNameConfig(sparse=models.SparseVectorConfig(modifier=models.Modifier.IDF)),
            wait=True,
        )
    # Only chunks without the vector: an interrupted run resumes instead of starting over.
    missing = models.Filter(must_not=[models.HasVectorCondition(has_vector=SPARSE_VECTOR)])
    offset: models.ExtendedPointId | None = None
    while True:
        points, offset = await ctx.client.scroll(
            ctx.collection,
            scroll_filter=missing,
            limit=_BATCH,
            offset=offset,
            with_payload=["title", "section", "text"],
            with_vectors=False,
        )
        if points:
            if ctx.sparse is None:
                raise RuntimeError("m0002 needs the sparse encoder to backfill existing chunks")
            payloads = [p.payload or {} for p in points]
            vectors = await ctx.sparse.embed_passages(
                [search_text(str(p["title"]), p.get("section"), str(p["text"])) for p in payloads]
            )
            await ctx.client.update_vectors(
                ctx.collection,
                points=[
                    models.PointVectors(
                        id=point.id,
                        vector={SPARSE_VECTOR: models.SparseVector(indices=v.indices, values=v.values)},
                    )
                    for point, v in zip(points, vectors, strict=True)
                ],
                wait=True,
            )
        if offset is None:
            break
    metadata: dict[str, str] = {"sparse_vector_name": SPARSE_VECTOR}
    if ctx.sparse is not None:
        metadata["sparse_model"] = ctx.sparse.model_name
    await ctx.client.update_collection(ctx.collection, metadata=metadata)
