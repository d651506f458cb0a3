"""The chunk store's contract and the schema steps, run alike on both engines (Qdrant Edge in-process,
and the server adapter on qdrant-client's local mode standing in for a server)."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from bot.app import Services
from bot.domain import GLOBAL_SCOPE, DocumentInfo, SearchQuery, SparseVector, chat_scope
from bot.storage.chunk_store import ChunkToStore
from bot.storage.chunks.interface import CollectionBackend, CollectionSettings
from bot.storage.chunks.store import QdrantChunkStore, chunk_hash
from bot.storage.migrator import (
    MigrationContext,
    SchemaError,
    check_schema,
    discover_migrations,
    latest_version,
    migrate,
    read_metadata,
)
from tests.support.corpus import RETURNS_MD
from tests.support.stores import ENGINES, open_backend

# Every field a filter of the store names: a server in strict mode refuses filters on others.
FILTERED_FIELDS = {"doc_id", "scope", "status", "content_hash", "chunk_index", "uploaded_at", "file_name"}


def _ctx(backend: CollectionBackend, model: str = "test/model", dim: int = 3) -> MigrationContext:
    return MigrationContext(backend, dim, model)


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


@pytest.fixture(params=ENGINES)
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[CollectionBackend]:
    opened = await open_backend(request.param, tmp_path / "q", "kb", "dense-test")
    yield opened
    await opened.close()


@pytest.fixture
async def store(backend: CollectionBackend) -> QdrantChunkStore:
    await migrate(_ctx(backend))
    return QdrantChunkStore(backend)


async def test_migrate_is_idempotent_and_records_the_model(backend: CollectionBackend) -> None:
    with pytest.raises(SchemaError, match="migrate"):
        await check_schema(_ctx(backend))
    assert await migrate(_ctx(backend)) == [m.name for m in discover_migrations()]
    assert await migrate(_ctx(backend)) == []
    await check_schema(_ctx(backend))
    metadata = await read_metadata(_ctx(backend))
    assert metadata == {
        "schema_version": latest_version(),
        "embedding_model": "test/model",
        "embedding_dim": 3,
        "vector_name": "dense-test",
        "sparse_vector_name": "sparse-bm25",
    }
    with pytest.raises(SchemaError, match="EMBEDDING_MODEL"):
        await check_schema(_ctx(backend, model="other/model", dim=768))
    with pytest.raises(SchemaError, match="EMBEDDING_MODEL"):
        await migrate(_ctx(backend, model="other/model", dim=768))


async def test_every_filtered_field_is_indexed(tmp_path: Path) -> None:
    # On Edge only: qdrant-client's local mode keeps no payload indexes, a server and Edge do.
    backend = await open_backend("edge", tmp_path / "q", "kb", "dense-test")
    try:
        await migrate(_ctx(backend))
        assert await backend.indexed_fields() >= FILTERED_FIELDS
    finally:
        await backend.close()


async def test_an_edge_store_reopens_with_its_chunks_and_schema(tmp_path: Path) -> None:
    first = await open_backend("edge", tmp_path / "q", "kb", "dense-test")
    await migrate(_ctx(first))
    await QdrantChunkStore(first).store_document(_doc("a"), [ChunkToStore(0, "kept", None, None, [1, 0, 0])])
    await first.close()
    again = await open_backend("edge", tmp_path / "q", "kb", "dense-test")
    try:
        await check_schema(_ctx(again))
        found = await QdrantChunkStore(again).search(SearchQuery(dense=[1, 0, 0]), ["global"], 5)
        assert [c.text for c in found] == ["kept"]
    finally:
        await again.close()


async def test_scopes_never_leak_between_chats(store: QdrantChunkStore) -> None:
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


async def test_a_delete_names_the_scope_and_never_touches_another(store: QdrantChunkStore) -> None:
    await store.store_document(_doc("same", "chat:-1"), [ChunkToStore(0, "one", None, None, [1, 0, 0])])
    await store.delete_document("same", "chat:-2")  # a forged or mistaken scope
    assert await store.count_chunks("same") == 1
    await store.delete_document("same", "chat:-1")
    assert await store.count_chunks("same") == 0


@pytest.mark.parametrize("fusion", ["dbsf", "rrf"])
async def test_hybrid_search_fuses_both_sides(store: QdrantChunkStore, fusion: str) -> None:
    await store.store_document(
        _doc("dense-best"),
        [ChunkToStore(0, "near in meaning", None, None, [1, 0, 0], SparseVector([7], [1.0]))],
    )
    await store.store_document(
        _doc("lexical-best"), [ChunkToStore(0, "ERR-4512", None, None, [0, 1, 0], SparseVector([42], [1.0]))]
    )
    await store.store_document(
        _doc("neither"), [ChunkToStore(0, "unrelated", None, None, [0, 0, 1], SparseVector([9], [1.0]))]
    )
    query = SearchQuery(dense=[1, 0.1, 0], sparse=SparseVector([42], [1.0]), fusion=fusion)  # type: ignore[arg-type]
    found = await store.search(query, ["global"], limit=2)
    assert {c.doc_id for c in found} == {"dense-best", "lexical-best"}
    only_sparse = await store.search(SearchQuery(sparse=SparseVector([42], [1.0])), ["global"], limit=5)
    assert [c.doc_id for c in only_sparse] == ["lexical-best"]
    stopwords_only = SearchQuery(dense=[0, 0, 1], sparse=SparseVector([], []))
    assert [c.doc_id for c in await store.search(stopwords_only, ["global"], 1)] == ["neither"]


async def test_stored_vectors_are_found_by_chunk_hash_for_reuse(store: QdrantChunkStore) -> None:
    doc = _doc("v1", "chat:-1")
    chunks = [
        ChunkToStore(0, "unchanged text", 1, "Intro", [1, 0, 0], SparseVector([3, 8], [1.0, 2.0])),
        ChunkToStore(1, "old wording", 2, None, [0, 1, 0], None),
    ]
    await store.store_document(doc, chunks)
    await store.store_document(_doc("elsewhere", "chat:-2"), [ChunkToStore(0, "x", None, None, [0, 0, 1])])
    found = await store.vectors_by_chunk_hash("chat:-1", ["v1", "elsewhere"])
    assert found.keys() == {
        chunk_hash(doc.title, "Intro", "unchanged text"),
        chunk_hash(doc.title, None, "old wording"),
    }
    dense, sparse = found[chunk_hash(doc.title, "Intro", "unchanged text")]
    assert dense == pytest.approx([1, 0, 0])
    assert sparse == SparseVector([3, 8], [1.0, 2.0])
    assert found[chunk_hash(doc.title, None, "old wording")][1] is None
    assert chunk_hash(doc.title, "Intro", "changed text") not in found
    assert await store.vectors_by_chunk_hash("chat:-2", ["v1"]) == {}  # never across scopes


async def test_a_failed_write_leaves_nothing_searchable(store: QdrantChunkStore) -> None:
    bad_vector = [1.0, 0.0]  # wrong dimension: Qdrant refuses the second chunk
    chunks = [
        ChunkToStore(0, "first", None, None, [1, 0, 0]),
        ChunkToStore(1, "second", None, None, bad_vector),
    ]
    with pytest.raises(Exception, match="dim"):
        await store.store_document(_doc("x"), chunks)
    assert await store.count_chunks("x") == 0
    assert await store.search(SearchQuery(dense=[1, 0, 0]), ["global"], 10) == []


async def test_delete_removes_every_chunk(store: QdrantChunkStore) -> None:
    chunks = [ChunkToStore(i, f"part {i}", i + 1, None, [1, 0, i]) for i in range(300)]
    await store.store_document(_doc("big", chunks=300), chunks)
    assert await store.count_chunks("big") == 300
    assert (await store.get_document("big")) is not None
    await store.delete_document("big", "global")
    assert await store.count_chunks("big") == 0
    assert await store.get_document("big") is None


async def test_chunks_left_by_a_crashed_upload_are_purged_at_start(
    store: QdrantChunkStore, backend: CollectionBackend
) -> None:
    crashed = dataclasses.replace(_doc("crashed"), uploaded_at=time.time() - 7200)
    in_flight = _doc("in-flight")
    # Written but never published, as when the process dies between the two steps.
    for doc in (crashed, in_flight):
        await backend.upsert([store._point(doc, ChunkToStore(0, "x", None, None, [1, 0, 0]))])
    await store.store_document(_doc("ok"), [ChunkToStore(0, "ok", None, None, [1, 0, 0])])
    await store.purge_stale_pending(older_than_s=3600)
    assert await store.count_chunks("crashed") == 0
    assert await store.count_chunks("in-flight") == 1  # an upload still running is left alone
    assert await store.count_chunks("ok") == 1


async def test_the_collection_layout_reaches_a_new_edge_shard(tmp_path: Path) -> None:
    backend = await open_backend("edge", tmp_path / "q", "kb", "dense-test")
    try:
        await migrate(dataclasses.replace(_ctx(backend), settings=CollectionSettings(on_disk_payload=False)))
        config = (tmp_path / "q" / "kb" / "edge_config.json").read_text(encoding="utf-8")
        assert '"payload_memory":"cached"' in config
    finally:
        await backend.close()


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


async def test_a_base_emptied_while_a_question_looked_it_up_is_empty_at_the_next_one(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    # "Has documents" is remembered (the desk asks it for every question). A lookup that read the last
    # document just before an admin deleted it must not keep the base "full" for the next asker.
    ingestion = services.ingestion
    doc = (await ingestion.ingest(RETURNS_MD.encode(), "faq.md", scope=GLOBAL_SCOPE, uploaded_by=1)).document
    store = ingestion._store
    listed, go_on = asyncio.Event(), asyncio.Event()
    real_list = store.list_documents

    async def list_then_wait(scopes: Sequence[str], limit: int = 500) -> list[DocumentInfo]:
        found = await real_list(scopes, limit)  # read before the delete, answered after it
        listed.set()
        await go_on.wait()
        return found

    monkeypatch.setattr(store, "list_documents", list_then_wait)
    lookup = asyncio.create_task(ingestion.has_documents([GLOBAL_SCOPE]))
    await listed.wait()
    monkeypatch.setattr(store, "list_documents", real_list)
    assert await ingestion.delete(doc.doc_id, [GLOBAL_SCOPE]) is not None
    go_on.set()
    assert await lookup  # it saw the document
    assert not await ingestion.has_documents([GLOBAL_SCOPE])
