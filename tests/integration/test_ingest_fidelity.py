"""Nothing is lost silently: every container of text in the supported formats becomes searchable
through the real ingestion service, embedded Qdrant and hybrid retrieval, and what cannot be read
is counted in the result (issue 11)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.domain import GLOBAL_SCOPE
from bot.embed.embedder import Embedder
from bot.embed.sparse import SparseEmbedder
from bot.ingest.chunking import DEFAULT_CHUNK_TOKENS
from bot.ingest.document import ParseWarning
from bot.ingest.pipeline import IngestionService, IngestResult
from bot.rag.retrieval import RetrievalConfig, Retriever
from bot.storage.chunk_store import QdrantChunkStore
from bot.storage.migrator import MigrationContext, migrate
from tests.support.office_fixtures import ALL_CONTAINERS, DOCX_NAME, PPTX_NAME, XLSX_NAME, Container, corpus
from tests.support.stores import open_backend

CASES = Path(__file__).resolve().parents[2].parent / "shared" / "cases"
CASE_FILES = {
    "d02a_textbox_drawingml.docx": "ключ-надпись-8842",
    "d04_formula_no_cache.xlsx": "ключ-формула-3310",
    "d03a_koi8r.txt": "ключ-кои-3107",
}


@dataclass
class KnowledgeBase:
    retriever: Retriever
    results: dict[str, IngestResult]


@pytest.fixture(scope="module")
async def kb(
    tmp_path_factory: pytest.TempPathFactory, embedder: Embedder, sparse_embedder: SparseEmbedder
) -> AsyncIterator[KnowledgeBase]:
    backend = await open_backend("edge", tmp_path_factory.mktemp("qdrant"), "kb", embedder.vector_name)
    await migrate(MigrationContext(backend, embedder.dim, embedder.model_name, sparse_embedder))
    store = QdrantChunkStore(backend)
    ingestion = IngestionService(
        embedder, sparse_embedder, store, chunk_tokens=DEFAULT_CHUNK_TOKENS, max_bytes=10**7
    )
    files = corpus() | {name: (CASES / name).read_bytes() for name in CASE_FILES}
    results = {
        name: await ingestion.ingest(data, name, scope=GLOBAL_SCOPE, uploaded_by=None)
        for name, data in files.items()
    }
    yield KnowledgeBase(Retriever(embedder, sparse_embedder, store, RetrievalConfig()), results)
    await backend.close()


@pytest.mark.parametrize("container", ALL_CONTAINERS, ids=lambda c: f"{c.file_name}:{c.container}")
async def test_every_container_of_text_is_searchable(kb: KnowledgeBase, container: Container) -> None:
    found = await kb.retriever.retrieve(container.keyword, None)
    assert found, container
    assert found[0].file_name == container.file_name
    assert container.keyword in found[0].text


@pytest.mark.parametrize(("file_name", "keyword"), CASE_FILES.items())
async def test_the_reported_files_are_searchable_by_their_keyword(
    kb: KnowledgeBase, file_name: str, keyword: str
) -> None:
    found = await kb.retriever.retrieve(keyword, None)
    assert found[0].file_name == file_name
    if file_name.endswith(".xlsx"):
        # The formula is indexed as written, marked as having no value.
        assert '="ключ-формула-"&"3310" (formula, no value saved)' in found[0].text
    else:
        assert keyword in found[0].text


async def test_a_text_box_saved_with_its_vml_copy_is_indexed_once(kb: KnowledgeBase) -> None:
    found = await kb.retriever.retrieve("ключ-альтернатива-5102", None)
    assert found[0].text.count("ключ-альтернатива-5102") == 1


async def test_merged_cells_repeat_their_value_and_hidden_sheets_are_marked(kb: KnowledgeBase) -> None:
    merged = await kb.retriever.retrieve("ключ-объединение-7301 Петров Сидоров", None)
    for person in ("Иванов", "Петров", "Сидоров"):
        assert f"| ключ-объединение-7301 | {person} |" in merged[0].text
    hidden = await kb.retriever.retrieve("ключ-скрытый-7302", None)
    assert hidden[0].section == "Служебный (hidden)"
    case = await kb.retriever.retrieve("Логистика Петров Сидоров", None)
    assert "| Логистика | Сидоров |" in case[0].text


async def test_what_cannot_be_read_is_counted_in_the_result(kb: KnowledgeBase) -> None:
    assert kb.results[DOCX_NAME].warnings == (ParseWarning("image_without_text", 1),)
    assert kb.results[PPTX_NAME].warnings == (
        ParseWarning("image_without_text", 1),
        ParseWarning("embedded_object", 1),
    )
    assert kb.results[XLSX_NAME].warnings == (
        ParseWarning("image_without_text", 1),
        ParseWarning("formula_without_value", 3),
        ParseWarning("hidden_sheet", 1),
    )
    assert kb.results["d04_formula_no_cache.xlsx"].warnings == (ParseWarning("formula_without_value", 3),)
    assert kb.results["d03a_koi8r.txt"].warnings == ()
