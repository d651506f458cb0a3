"""A knowledge base on real parts: a chunk-store engine, the real migrations, the bot's ingestion."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from bot.embed.embedder import Embedder
from bot.embed.sparse import SparseEmbedder
from bot.ingest.chunking import DEFAULT_CHUNK_TOKENS
from bot.ingest.pipeline import IngestionService
from bot.storage.chunk_store import ChunkStore, QdrantChunkStore
from bot.storage.migrator import MigrationContext, migrate
from tests.support.stores import Engine, open_backend


@dataclass(frozen=True)
class KnowledgeBase:
    store: ChunkStore
    ingestion: IngestionService


@asynccontextmanager
async def knowledge_base(
    embedder: Embedder, sparse: SparseEmbedder, folder: Path, engine: Engine = "edge"
) -> AsyncIterator[KnowledgeBase]:
    """A fresh collection "kb" in `folder` (Edge) or in memory (the server adapter), schema made by
    the migrations; closed on exit."""
    backend = await open_backend(engine, folder, "kb", embedder.vector_name)
    try:
        await migrate(MigrationContext(backend, embedder.dim, embedder.model_name, sparse))
        store = QdrantChunkStore(backend)
        ingestion = IngestionService(
            embedder, sparse, store, chunk_tokens=DEFAULT_CHUNK_TOKENS, max_bytes=10**6
        )
        yield KnowledgeBase(store, ingestion)
    finally:
        await backend.close()
