"""An in-memory knowledge base on real parts: embedded Qdrant, the real migrations, the bot's ingestion."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from qdrant_client import AsyncQdrantClient

from bot.embed.embedder import Embedder
from bot.embed.sparse import SparseEmbedder
from bot.ingest.chunking import DEFAULT_CHUNK_TOKENS
from bot.ingest.pipeline import IngestionService
from bot.storage.chunk_store import ChunkStore
from bot.storage.migrator import MigrationContext, migrate


@dataclass(frozen=True)
class KnowledgeBase:
    client: AsyncQdrantClient
    store: ChunkStore
    ingestion: IngestionService


@asynccontextmanager
async def in_memory_kb(embedder: Embedder, sparse: SparseEmbedder) -> AsyncIterator[KnowledgeBase]:
    """A fresh collection "kb", schema made by the migrations; closed on exit."""
    client = AsyncQdrantClient(location=":memory:")
    try:
        await migrate(
            MigrationContext(client, "kb", embedder.vector_name, embedder.dim, embedder.model_name, sparse)
        )
        store = ChunkStore(client, "kb", embedder.vector_name)
        ingestion = IngestionService(
            embedder, sparse, store, chunk_tokens=DEFAULT_CHUNK_TOKENS, max_bytes=10**6
        )
        yield KnowledgeBase(client, store, ingestion)
    finally:
        await client.close()
