"""`kb-bot migrate` moves the old embedded store (qdrant-client's local mode) into Qdrant Edge with its
vectors: nothing is embedded again, nothing is lost, and a second run changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from qdrant_client import AsyncQdrantClient

from bot.app import open_chunk_backend, open_knowledge_base, run_migrations
from bot.config import ConfigError
from bot.domain import GLOBAL_SCOPE, chat_scope
from bot.embed.embedder import Embedder
from bot.embed.sparse import SparseEmbedder
from bot.ingest.pipeline import IngestionService
from bot.storage.chunks.interface import CollectionBackend, StoredPoint
from bot.storage.chunks.server import ServerCollection
from bot.storage.chunks.store import QdrantChunkStore
from bot.storage.migrator import MigrationContext, SchemaError, check_schema, discover_migrations, migrate
from tests.conftest import SettingsFactory
from tests.support.corpus import RETURNS_MD, VPN_MD

COLLECTION = "kb_chunks"


async def _all_points(backend: CollectionBackend) -> dict[str, StoredPoint]:
    points: dict[str, StoredPoint] = {}
    offset: str | None = None
    while True:
        batch, offset = await backend.scroll([], 64, offset, with_vectors=True)
        points.update({p.id: p for p in batch})
        if offset is None:
            return points


async def _build_local_mode_base(
    path: Path, embedder: Embedder, sparse: SparseEmbedder
) -> dict[str, StoredPoint]:
    """A collection as the bot before Qdrant Edge left it in QDRANT_PATH, with two documents."""
    legacy = ServerCollection(AsyncQdrantClient(path=str(path)), COLLECTION, embedder.vector_name)
    try:
        ctx = MigrationContext(legacy, embedder.dim, embedder.model_name, sparse)
        for step in discover_migrations()[:2]:  # that bot knew m0001 and m0002
            await step.apply(ctx)
        await legacy.update_metadata({**ctx.base_metadata(), "schema_version": 2})
        ingestion = IngestionService(
            embedder, sparse, QdrantChunkStore(legacy), chunk_tokens=128, max_bytes=10**6
        )
        await ingestion.ingest(RETURNS_MD.encode(), "returns.md", scope=GLOBAL_SCOPE, uploaded_by=7)
        await ingestion.ingest(VPN_MD.encode(), "vpn.md", scope=chat_scope(-100), uploaded_by=None)
        return await _all_points(legacy)
    finally:
        await legacy.close()


async def test_migrate_moves_a_local_mode_collection_into_edge_with_its_vectors(
    make_settings: SettingsFactory, tmp_path: Path, embedder: Embedder, sparse_embedder: SparseEmbedder
) -> None:
    settings = make_settings(qdrant_path=tmp_path / "qdrant")
    before = await _build_local_mode_base(settings.qdrant_path, embedder, sparse_embedder)
    assert len(before) > 2

    [note] = await run_migrations(settings, embedder, sparse_embedder)
    assert note.startswith(f"moved {len(before)} chunks")

    backend = await open_chunk_backend(settings, embedder.vector_name)
    try:
        await check_schema(MigrationContext(backend, embedder.dim, embedder.model_name, sparse_embedder))
        after = await _all_points(backend)
        assert after.keys() == before.keys()
        for point_id, old in before.items():
            new = after[point_id]
            # Edge reads payload floats through serde_json, which may move one in the last bit.
            assert new.payload == {
                **old.payload,
                "uploaded_at": pytest.approx(old.payload["uploaded_at"], rel=1e-15),
            }
            assert old.dense is not None
            assert new.dense is not None
            assert new.dense == pytest.approx(old.dense, abs=1e-6)
            assert new.sparse is not None
            assert old.sparse is not None
            assert new.sparse.indices == old.sparse.indices
            assert new.sparse.values == pytest.approx(old.sparse.values, rel=1e-6)
        # The moved base answers as the old one did.
        store = QdrantChunkStore(backend)
        assert {d.file_name for d in await store.list_documents([GLOBAL_SCOPE, chat_scope(-100)])} == {
            "returns.md",
            "vpn.md",
        }
    finally:
        await backend.close()

    assert await run_migrations(settings, embedder, sparse_embedder) == []  # nothing twice


async def test_migrate_says_so_when_a_running_bot_holds_the_old_folder(
    make_settings: SettingsFactory, tmp_path: Path, embedder: Embedder, sparse_embedder: SparseEmbedder
) -> None:
    settings = make_settings(qdrant_path=tmp_path / "qdrant")
    await _build_local_mode_base(settings.qdrant_path, embedder, sparse_embedder)
    holder = AsyncQdrantClient(path=str(settings.qdrant_path))  # the old bot, still running
    try:
        with pytest.raises(ConfigError, match="in use by another process") as raised:
            await run_migrations(settings, embedder, sparse_embedder)
    finally:
        await holder.close()
    assert "Stop the bot" in str(raised.value)
    # Nothing half-moved stays behind: the next run moves everything.
    assert (await run_migrations(settings, embedder, sparse_embedder))[0].startswith("moved")


async def test_a_base_without_sparse_vectors_gets_them_on_the_way(
    make_settings: SettingsFactory, tmp_path: Path, embedder: Embedder, sparse_embedder: SparseEmbedder
) -> None:
    settings = make_settings(qdrant_path=tmp_path / "qdrant")
    legacy = ServerCollection(
        AsyncQdrantClient(path=str(settings.qdrant_path)), COLLECTION, embedder.vector_name
    )
    ctx = MigrationContext(legacy, embedder.dim, embedder.model_name, sparse_embedder)
    await discover_migrations()[0].apply(ctx)
    await legacy.update_metadata({**ctx.base_metadata(), "schema_version": 1})
    text = "Ошибка ERR-4512 означает, что сертификат VPN истёк."
    [vector] = await embedder.embed_passages([text])
    await legacy.upsert([StoredPoint("5b1f5f0e-8f43-4d0b-a1a4-2b3f7c1f2a10", _payload(text), vector)])
    await legacy.close()

    assert (await run_migrations(settings, embedder, sparse_embedder))[0].startswith("moved 1 chunks")
    backend = await open_chunk_backend(settings, embedder.vector_name)
    try:
        [point] = (await _all_points(backend)).values()
        assert point.sparse is not None
        assert point.sparse.indices
        assert (
            await migrate(MigrationContext(backend, embedder.dim, embedder.model_name, sparse_embedder)) == []
        )
    finally:
        await backend.close()


def _payload(text: str) -> dict[str, object]:
    return {
        "doc_id": "d1",
        "scope": GLOBAL_SCOPE,
        "title": "VPN",
        "file_name": "vpn.md",
        "kind": "markdown",
        "pages": None,
        "chunks": 1,
        "content_hash": "h1",
        "uploaded_by": None,
        "uploaded_at": 1.0,
        "uploader_name": None,
        "status": "ready",
        "chunk_index": 0,
        "text": text,
        "page": None,
        "section": "VPN › Ошибки",
    }


async def test_a_start_beside_the_old_store_asks_for_migrate_instead_of_hiding_the_data(
    make_settings: SettingsFactory, tmp_path: Path, embedder: Embedder, sparse_embedder: SparseEmbedder
) -> None:
    settings = make_settings(qdrant_path=tmp_path / "qdrant")
    await _build_local_mode_base(settings.qdrant_path, embedder, sparse_embedder)
    with pytest.raises(SchemaError, match="kb-bot migrate"):
        async with open_knowledge_base(settings, embedder, sparse_embedder):
            pass
    await run_migrations(settings, embedder, sparse_embedder)
    async with open_knowledge_base(settings, embedder, sparse_embedder) as (_, _, ingestion):
        assert await ingestion.has_documents([GLOBAL_SCOPE])
