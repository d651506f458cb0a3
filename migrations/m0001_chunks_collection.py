"""Create the chunks collection: one named dense vector and indexes for every filtered field."""

from __future__ import annotations

import warnings

from qdrant_client import models

from bot.storage.migrator import MigrationContext

VERSION = 1

KEYWORD_FIELDS = ("doc_id", "scope", "status", "content_hash")
INTEGER_FIELDS = ("chunk_index",)
FLOAT_FIELDS = ("uploaded_at",)


async def apply(ctx: MigrationContext) -> None:
    if not await ctx.client.collection_exists(ctx.collection):
        await ctx.client.create_collection(
            ctx.collection,
            vectors_config={
                ctx.vector_name: models.VectorParams(size=ctx.dim, distance=models.Distance.COSINE)
            },
            metadata=ctx.base_metadata(),
        )
    # Payload indexes are idempotent on the server; embedded mode accepts them, ignores them and
    # warns, which would only alarm an operator running `migrate` on a single machine.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Payload indexes have no effect")
        for field in KEYWORD_FIELDS:
            await ctx.client.create_payload_index(
                ctx.collection, field, field_schema=models.PayloadSchemaType.KEYWORD, wait=True
            )
        for field in INTEGER_FIELDS:
            await ctx.client.create_payload_index(
                ctx.collection, field, field_schema=models.PayloadSchemaType.INTEGER, wait=True
            )
        for field in FLOAT_FIELDS:
            await ctx.client.create_payload_index(
                ctx.collection, field, field_schema=models.PayloadSchemaType.FLOAT, wait=True
            )
