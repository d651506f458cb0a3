"""The Qdrant schema steps and the chunk store on the real client in embedded mode."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest
from qdrant_client import AsyncQdrantClient

from bot.app import Services
from bot.domain import GLOBAL_SCOPE, DocumentInfo, SearchQuery, chat_scope
from bot.storage.chunk_store import ChunkStore, ChunkToStore
from bot.storage.migrator import (
    MigrationContext,
    SchemaError,
    check_schema,
    latest_version,
    migrate,
    read_metadata,
)
from tests.support.corpus import RETURNS_MD


def _ctx(client: AsyncQdrantClient, model: str = "test/model", dim: int = 3) -> MigrationContext:
    return MigrationContext(client, "kb", "dense-test", dim, model)


def _doc(doc_id: str, scope: str = "global", chunks: int = 2) -> DocumentInfo:
    return DocumentInfo(
        doc_id,
        scope,
        f"Doc {doc_id}",
        f"{doc_id}.txt",
        "text",
        None,
        chunks,
        f"hash-{doc_id}",
        1,
        time.time(),
    )


async def test_migrate_is_idempotent_and_records_the_model(tmp_path: Path) -> None:
    client = AsyncQdrantClient(path=str(tmp_path / "q"))
    try:
        with pytest.raises(SchemaError, match="migrate"):
            await check_schema(_ctx(client))
        assert await migrate(_ctx(client)) == ["m0001_chunks_collection", "m0002_sparse_bm25"]
        assert await migrate(_ctx(client)) == []
        await check_schema(_ctx(client))
        metadata = await read_metadata(_ctx(client))
        assert metadata == {
            "schema_version": latest_version(),
            "embedding_model": "test/model",
            "embedding_dim": 3,
            "vector_name": "dense-test",
            "sparse_vector_name": "sparse-bm25",
        }
        with pytest.raises(SchemaError, match="EMBEDDING_MODEL"):
            await check_schema(_ctx(client, model="other/model", dim=768))
        with pytest.raises(SchemaError, match="EMBEDDING_MODEL"):
            await migrate(_ctx(client, model="other/model", dim=768))
    finally:
        await client.close()


@pytest.fixture
async def store() -> ChunkStore:
    client = AsyncQdrantClient(location=":memory:")
    await migrate(_ctx(client))
    return ChunkStore(client, "kb", "dense-test")


async def test_scopes_never_leak_between_chats(store: ChunkStore) -> None:
    await store.store_document(
        _doc("a", "chat:-1"), [ChunkToStore(0, "secret of group 1", None, None, [1, 0, 0])]
    )
    await store.store_document(
        _doc("b", "chat:-2"), [ChunkToStore(0, "secret of group 2", None, None, [1, 0, 0])]
    )
    await store.store_document(_doc("g"), [ChunkToStore(0, "public", None, None, [0.9, 0.1, 0])])
    found = await store.search(SearchQuery(dense=[1, 0, 0]), ["global", "chat:-1"], limit=10)
    assert {c.text for c in found} == {"secret of group 1", "public"}
    assert [d.doc_id for d in await store.list_documents(["global"])] == ["g"]


async def test_a_failed_write_leaves_nothing_searchable(store: ChunkStore) -> None:
    bad_vector = [1.0, 0.0]  # wrong dimension: Qdrant refuses the second chunk
    chunks = [
        ChunkToStore(0, "first", None, None, [1, 0, 0]),
        ChunkToStore(1, "second", None, None, bad_vector),
    ]
    with pytest.raises(ValueError, match="dim"):
        await store.store_document(_doc("x"), chunks)
    assert await store.count_chunks("x") == 0
    assert await store.search(SearchQuery(dense=[1, 0, 0]), ["global"], 10) == []


async def test_delete_removes_every_chunk(store: ChunkStore) -> None:
    chunks = [ChunkToStore(i, f"part {i}", i + 1, None, [1, 0, i]) for i in range(300)]
    await store.store_document(_doc("big", chunks=300), chunks)
    assert await store.count_chunks("big") == 300
    assert (await store.get_document("big")) is not None
    await store.delete_document("big")
    assert await store.count_chunks("big") == 0
    assert await store.get_document("big") is None


async def test_chunks_left_by_a_crashed_upload_are_purged_at_start(store: ChunkStore) -> None:
    crashed = dataclasses.replace(_doc("crashed"), uploaded_at=time.time() - 7200)
    in_flight = _doc("in-flight")
    # Written but never published, as when the process dies between the two steps.
    for doc in (crashed, in_flight):
        await store._client.upsert(
            "kb",
            points=[store._point(doc, ChunkToStore(0, "x", None, None, [1, 0, 0]))],
            wait=True,
        )
    await store.store_document(_doc("ok"), [ChunkToStore(0, "ok", None, None, [1, 0, 0])])
    await store.purge_stale_pending(older_than_s=3600)
    assert await store.count_chunks("crashed") == 0
    assert await store.count_chunks("in-flight") == 1  # an upload still running is left alone
    assert await store.count_chunks("ok") == 1


async def test_a_new_version_of_a_file_replaces_the_old_one(services: Services) -> None:
    ingestion = services.ingestion
    first = await ingestion.ingest(RETURNS_MD.encode(), "faq.md", scope=GLOBAL_SCOPE, uploaded_by=1)
    assert first.replaced == []
    newer = RETURNS_MD.replace("14 дней", "30 дней")
    second = await ingestion.ingest(newer.encode(), "faq.md", scope=GLOBAL_SCOPE, uploaded_by=1)
    assert [doc.doc_id for doc in second.replaced] == [first.document.doc_id]
    assert [doc.doc_id for doc in await ingestion.documents([GLOBAL_SCOPE])] == [second.document.doc_id]
    assert await ingestion.document(first.document.doc_id, [GLOBAL_SCOPE]) is None

    # The same content again (under any name) changes nothing; another chat's file of that name is its own.
    again = await ingestion.ingest(newer.encode(), "copy-of-faq.md", scope=GLOBAL_SCOPE, uploaded_by=1)
    assert again.already_indexed
    assert again.document.doc_id == second.document.doc_id
    other = await ingestion.ingest(RETURNS_MD.encode(), "faq.md", scope=chat_scope(-100), uploaded_by=1)
    assert other.replaced == []
    assert len(await ingestion.documents([GLOBAL_SCOPE, chat_scope(-100)])) == 2
