"""Hybrid search on real parts: e5 + BM25 vectors on both engines (Qdrant Edge, and the server adapter
on qdrant-client's local mode), the real migrations.

The corpus is small but has near misses on purpose: two error codes that differ only in digits,
and a chat's private document that is the best match for a question asked elsewhere.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.domain import GLOBAL_SCOPE, DocumentInfo, SearchQuery, Turn, chat_scope
from bot.embed.embedder import Embedder
from bot.embed.sparse import SparseEmbedder
from bot.rag.retrieval import RetrievalConfig, RetrievalMode, Retriever
from bot.storage.chunk_store import SPARSE_VECTOR, ChunkStore, ChunkToStore
from bot.storage.chunks.store import QdrantChunkStore
from bot.storage.migrator import MigrationContext, latest_version, migrate, read_metadata
from migrations import m0001_chunks_collection
from tests.support.corpus import RETURNS_MD, VPN_MD
from tests.support.knowledge_base import knowledge_base
from tests.support.stores import ENGINES, Engine, open_backend

OTHER_ERRORS_MD = """# Справочник ошибок принтера

## Коды
Ошибка ERR-4513 означает, что в лотке закончилась бумага: добавьте бумагу и нажмите «Продолжить».
Ошибка ERR-4511 означает замятие бумаги.
"""

DELIVERY_MD = """# Доставка

## Курьер
Курьер привозит заказ в течение двух дней. Доставка бесплатна для заказов дороже 3000 рублей.
"""

SECRET_MD = """# Внутренний регламент

## Пароли
Пароль от складского терминала меняется каждый понедельник; код доступа KX-9981.
"""


@pytest.fixture(scope="module", params=ENGINES)
async def kb(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    embedder: Embedder,
    sparse_embedder: SparseEmbedder,
) -> AsyncIterator[ChunkStore]:
    async with knowledge_base(embedder, sparse_embedder, tmp_path_factory.mktemp("kb"), request.param) as kb:
        for name, text in [
            ("returns.md", RETURNS_MD),
            ("vpn.md", VPN_MD),
            ("printer.md", OTHER_ERRORS_MD),
            ("delivery.md", DELIVERY_MD),
        ]:
            await kb.ingestion.ingest(text.encode(), name, scope=GLOBAL_SCOPE, uploaded_by=None)
        await kb.ingestion.ingest(SECRET_MD.encode(), "secret.md", scope=chat_scope(-100), uploaded_by=None)
        yield kb.store


def _retriever(
    kb: ChunkStore, embedder: Embedder, sparse: SparseEmbedder, mode: RetrievalMode = "hybrid"
) -> Retriever:
    return Retriever(embedder, sparse, kb, RetrievalConfig(mode=mode))


async def test_an_inflected_russian_form_finds_its_document_through_stemming(
    kb: ChunkStore, embedder: Embedder, sparse_embedder: SparseEmbedder
) -> None:
    # The text says "электроники" and "паспорт"; the question "электронику" and "паспортом".
    query = "электронику паспортом"
    sparse_only = await _retriever(kb, embedder, sparse_embedder, "sparse").retrieve(query, None)
    assert sparse_only[0].file_name == "returns.md"
    assert set(sparse_embedder.embed_query("электронику").indices) <= set(
        sparse_embedder.embed_query("электроники").indices
    )
    hybrid = await _retriever(kb, embedder, sparse_embedder).retrieve("Можно ли вернуть электронику?", None)
    assert hybrid[0].file_name == "returns.md"


async def test_an_exact_code_is_found_through_the_sparse_vector(
    kb: ChunkStore, embedder: Embedder, sparse_embedder: SparseEmbedder
) -> None:
    for mode in ("sparse", "hybrid"):
        found = await _retriever(kb, embedder, sparse_embedder, mode).retrieve("ERR-4512", None)
        assert found[0].file_name == "vpn.md", mode
        assert "ERR-4512" in found[0].text
    # Russian question, English document: the code alone carries it.
    found = await _retriever(kb, embedder, sparse_embedder).retrieve("Что значит ошибка ERR-4512?", None)
    assert found[0].file_name == "vpn.md"


@pytest.mark.parametrize("mode", ["hybrid", "dense", "sparse"])
async def test_scope_filters_hold_in_every_mode(
    kb: ChunkStore, embedder: Embedder, sparse_embedder: SparseEmbedder, mode: RetrievalMode
) -> None:
    retriever = _retriever(kb, embedder, sparse_embedder, mode)
    question = "Какой код доступа к складскому терминалу?"
    own = await retriever.retrieve(question, -100)
    assert own[0].file_name == "secret.md"
    for chat_id in (-200, None):
        found = await retriever.retrieve(question, chat_id)
        assert found  # the global base still answers
        assert "secret.md" not in {c.file_name for c in found}


async def test_a_short_follow_up_finds_the_chunks_of_the_conversation(
    kb: ChunkStore, embedder: Embedder, sparse_embedder: SparseEmbedder
) -> None:
    retriever = _retriever(kb, embedder, sparse_embedder)
    history = [
        Turn("user", "Что означает ошибка ERR-4512 при подключении к VPN?"),
        Turn("assistant", "Истёк сертификат."),
    ]
    found = await retriever.retrieve("а как его продлить?", 5, history)
    assert found[0].file_name == "vpn.md"


@pytest.mark.parametrize("engine", ENGINES)
async def test_the_migration_adds_the_sparse_vector_and_backfills_existing_chunks(
    engine: Engine, tmp_path: Path, embedder: Embedder, sparse_embedder: SparseEmbedder
) -> None:
    backend = await open_backend(engine, tmp_path, "old", embedder.vector_name)
    try:
        ctx = MigrationContext(backend, embedder.dim, embedder.model_name, sparse_embedder)
        # A collection as version 1 left it, with chunks that have only the dense vector.
        await m0001_chunks_collection.apply(ctx)
        await backend.update_metadata({**ctx.base_metadata(), "schema_version": 1})
        store = QdrantChunkStore(backend)
        text = "Error ERR-4512 means the certificate has expired."
        vector = await embedder.embed_passages([text])
        doc = DocumentInfo("d1", GLOBAL_SCOPE, "VPN", "vpn.md", "markdown", None, 1, "h", None, 0.0)
        await store.store_document(doc, [ChunkToStore(0, text, None, "VPN › Errors", vector[0])])
        assert not await backend.has_sparse_vector(SPARSE_VECTOR)

        assert await migrate(ctx) == ["m0002_sparse_bm25", "m0003_file_name_index", "m0004_chunk_language"]

        assert await backend.has_sparse_vector(SPARSE_VECTOR)
        metadata = await read_metadata(ctx)
        assert metadata is not None
        assert metadata["schema_version"] == latest_version()
        assert metadata["sparse_model"] == sparse_embedder.model_name
        found = await store.search(
            SearchQuery(sparse=sparse_embedder.embed_query("ERR-4512")), [GLOBAL_SCOPE], 5
        )
        assert [c.doc_id for c in found] == ["d1"]
        assert await migrate(ctx) == []
    finally:
        await backend.close()
