"""A new version of a file costs only its changes: chunks are keyed by the hash of their embedded text,
and unchanged ones keep their stored vectors (dense and sparse)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.domain import GLOBAL_SCOPE, search_text
from bot.embed.embedder import Embedder
from bot.embed.sparse import SparseEmbedder
from bot.ingest.chunking import DEFAULT_CHUNK_TOKENS, split_into_chunks
from bot.ingest.parsing import parse_document
from bot.ingest.pipeline import IngestionService
from bot.rag.retrieval import RetrievalConfig, Retriever
from bot.storage.chunk_store import ChunkStore, QdrantChunkStore, chunk_hash
from bot.storage.migrator import MigrationContext, migrate
from tests.support.documents import find_cyrillic_font, make_pdf
from tests.support.embedders import CountingEmbedder
from tests.support.stores import ENGINES, open_backend

PAGES = [
    "Отпуск. Заявление на ежегодный отпуск подаётся за две недели через портал кадровой службы.",
    "Командировки. Суточные в командировке по России составляют 700 рублей за каждый день поездки.",
    "Возврат товара. Покупатель может вернуть товар надлежащего качества в течение 14 дней с чеком.",
    "Пропуска. Гостевой пропуск заказывает секретарь не позднее чем за сутки до визита гостя.",
    "Парковка. Место на парковке у офиса закрепляется за сотрудником по заявке в хозяйственный отдел.",
    "Обучение. Компания оплачивает один профессиональный курс в год по согласованию с руководителем.",
]


@pytest.fixture(params=ENGINES)
async def store(
    request: pytest.FixtureRequest, tmp_path: Path, embedder: Embedder, sparse_embedder: SparseEmbedder
) -> AsyncIterator[ChunkStore]:
    backend = await open_backend(request.param, tmp_path / "qdrant", "kb", embedder.vector_name)
    await migrate(MigrationContext(backend, embedder.dim, embedder.model_name, sparse_embedder))
    yield QdrantChunkStore(backend)
    await backend.close()


async def test_a_new_version_with_one_page_changed_embeds_only_that_page(
    store: ChunkStore, embedder: Embedder, sparse_embedder: SparseEmbedder
) -> None:
    counting = CountingEmbedder(embedder)
    ingestion = IngestionService(
        counting, sparse_embedder, store, chunk_tokens=DEFAULT_CHUNK_TOKENS, max_bytes=10**7
    )
    font = find_cyrillic_font()
    first = await ingestion.ingest(
        make_pdf(font, PAGES, title="Памятка сотрудника"), "memo.pdf", scope=GLOBAL_SCOPE, uploaded_by=None
    )
    assert len(counting.embedded) == first.document.chunks == len(PAGES)

    counting.embedded.clear()
    edited = [*PAGES]
    edited[2] = PAGES[2].replace("14 дней", "30 дней")
    second = await ingestion.ingest(
        make_pdf(font, edited, title="Памятка сотрудника"), "memo.pdf", scope=GLOBAL_SCOPE, uploaded_by=None
    )
    assert not second.already_indexed
    assert [d.doc_id for d in second.replaced] == [first.document.doc_id]
    # Only the edited page went through the model; the five others reused their vectors.
    assert len(counting.embedded) == 1
    assert "30 дней" in counting.embedded[0]

    retriever = Retriever(embedder, sparse_embedder, store, RetrievalConfig())
    changed = await retriever.retrieve("Сколько дней на возврат товара?", None)
    assert changed[0].doc_id == second.document.doc_id
    assert "30 дней" in changed[0].text
    assert "14 дней" not in " ".join(c.text for c in changed)
    unchanged = await retriever.retrieve("Какие суточные в командировке?", None)
    assert unchanged[0].doc_id == second.document.doc_id
    assert "700 рублей" in unchanged[0].text
    assert await store.count_chunks(first.document.doc_id) == 0


async def test_vectors_by_chunk_hash_returns_what_was_stored(
    store: ChunkStore, embedder: Embedder, sparse_embedder: SparseEmbedder
) -> None:
    ingestion = IngestionService(
        embedder, sparse_embedder, store, chunk_tokens=DEFAULT_CHUNK_TOKENS, max_bytes=10**7
    )
    text = "# Парковка\n\nМесто на парковке закрепляется по заявке.\n"
    result = await ingestion.ingest(text.encode(), "parking.md", scope=GLOBAL_SCOPE, uploaded_by=None)
    parsed = parse_document(text.encode(), "parking.md")
    [draft] = split_into_chunks(parsed, max_tokens=DEFAULT_CHUNK_TOKENS)
    embedded = search_text(parsed.title, draft.section, draft.text)
    stored = await store.vectors_by_chunk_hash(GLOBAL_SCOPE, [result.document.doc_id])
    assert list(stored) == [chunk_hash(parsed.title, draft.section, draft.text)]
    [(dense, sparse)] = stored.values()
    [expected] = await embedder.embed_passages([embedded])
    assert dense == pytest.approx(expected, abs=1e-5)
    assert sparse is not None
    assert sparse.indices
    # Another scope's chunks are never handed out.
    assert await store.vectors_by_chunk_hash("chat:1", [result.document.doc_id]) == {}
