"""Scans and photos are read with Tesseract, off the event loop, with page progress (issue 11)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.domain import GLOBAL_SCOPE
from bot.embed.embedder import Embedder
from bot.embed.sparse import SparseEmbedder
from bot.ingest.chunking import DEFAULT_CHUNK_TOKENS
from bot.ingest.document import ParseWarning, ScanNeedsOcrError
from bot.ingest.ocr import OcrEngine
from bot.ingest.parsing import parse_document
from bot.ingest.pipeline import IngestionService
from bot.rag.retrieval import RetrievalConfig, Retriever
from bot.storage.chunk_store import ChunkStore, QdrantChunkStore
from bot.storage.migrator import MigrationContext, migrate
from tests.support.documents import find_cyrillic_font
from tests.support.scans import character_error_rate, image_bytes, image_pdf, render_page
from tests.support.stores import open_backend

PAGE_1 = (
    "Приказ № 17 о порядке приёмки товара\n"
    "Приёмка товара на склад начинается с проверки накладной: кладовщик сверяет количество мест, "
    "целостность упаковки и маркировку. Если найдено расхождение, составляется акт в двух "
    "экземплярах, один из которых передаётся водителю. Код приёмки ключ-скан-4410."
)
PAGE_2 = (
    "Хрупкий товар хранится на нижних ярусах стеллажей, а продукты с коротким сроком годности "
    "ближе к зоне отгрузки. Инвентаризация проводится раз в квартал; её результаты утверждает "
    "заведующий складом. Пропуск выдаёт охрана по заявке, код ключ-пропуск-5520."
)
TEXT_PAGE = "Регламент склада. Этот лист набран в редакторе и имеет текстовый слой, код ключ-текст-6630."
DPI = 200
MISSING_TESSERACT = OcrEngine(command="/nonexistent/bin/tesseract")


@pytest.fixture(scope="module")
def font() -> Path:
    return find_cyrillic_font()


@pytest.fixture(scope="module")
def scanned_pdf(font: Path) -> bytes:
    return image_pdf([render_page(PAGE_1, font, DPI), render_page(PAGE_2, font, DPI)], font, DPI)


def test_a_scanned_pdf_is_read_by_ocr_with_page_progress(scanned_pdf: bytes) -> None:
    progress: list[tuple[int, int]] = []
    doc = parse_document(
        scanned_pdf, "приказ.pdf", on_page=lambda done, total: progress.append((done, total))
    )
    assert [section.page for section in doc.sections] == [1, 2]
    for section, reference in zip(doc.sections, (PAGE_1, PAGE_2), strict=True):
        assert character_error_rate(section.text, reference) <= 0.03, section.text
    assert "ключ-скан-4410" in doc.text
    assert doc.warnings == (ParseWarning("ocr_page", 2),)
    assert progress == [(1, 2), (2, 2)]


def test_a_mixed_pdf_reads_only_its_pages_without_a_text_layer_by_ocr(font: Path) -> None:
    pdf = image_pdf([TEXT_PAGE, render_page(PAGE_2, font, DPI)], font, DPI)
    progress: list[tuple[int, int]] = []
    doc = parse_document(pdf, "mixed.pdf", on_page=lambda done, total: progress.append((done, total)))
    assert " ".join(doc.sections[0].text.split()) == TEXT_PAGE  # the text layer, exactly as typed
    assert character_error_rate(doc.sections[1].text, PAGE_2) <= 0.03
    assert doc.warnings == (ParseWarning("ocr_page", 1),)
    assert progress == [(1, 1)]


@pytest.mark.parametrize(("image_format", "suffix"), [("PNG", ".png"), ("JPEG", ".jpg"), ("TIFF", ".tiff")])
def test_image_uploads_are_read_by_ocr(font: Path, image_format: str, suffix: str) -> None:
    pages = [render_page(PAGE_1, font, DPI)]
    if image_format == "TIFF":
        pages.append(render_page(PAGE_2, font, DPI))  # a multi-page TIFF: one page per frame
    data = image_bytes(pages, image_format, DPI)
    # A file without an extension is known by its bytes.
    for name in (f"скан{suffix}", "no-extension")[: 2 if image_format == "PNG" else 1]:
        doc = parse_document(data, name)
        assert doc.kind == "image"
        assert doc.pages == len(pages)
        assert character_error_rate(doc.sections[0].text, PAGE_1) <= 0.03
        assert doc.warnings == (ParseWarning("ocr_page", len(pages)),)
    if image_format == "TIFF":
        assert "ключ-пропуск-5520" in doc.sections[1].text


def test_without_tesseract_a_scan_is_refused_clearly_and_a_mixed_pdf_keeps_its_text(
    font: Path, scanned_pdf: bytes
) -> None:
    assert not MISSING_TESSERACT.available()
    assert OcrEngine().available()
    with pytest.raises(ScanNeedsOcrError, match="no text layer; it looks scanned"):
        parse_document(scanned_pdf, "приказ.pdf", ocr=MISSING_TESSERACT)
    png = image_bytes([render_page(PAGE_1, font, DPI)], "PNG", DPI)
    with pytest.raises(ScanNeedsOcrError, match="needs OCR"):
        parse_document(png, "скан.png", ocr=MISSING_TESSERACT)
    mixed = image_pdf([TEXT_PAGE, render_page(PAGE_2, font, DPI)], font, DPI)
    doc = parse_document(mixed, "mixed.pdf", ocr=MISSING_TESSERACT)
    assert " ".join(doc.text.split()) == TEXT_PAGE
    assert doc.warnings == (ParseWarning("page_without_text", 1),)


@pytest.fixture
async def store(
    tmp_path: Path, embedder: Embedder, sparse_embedder: SparseEmbedder
) -> AsyncIterator[ChunkStore]:
    backend = await open_backend("edge", tmp_path / "qdrant", "kb", embedder.vector_name)
    await migrate(MigrationContext(backend, embedder.dim, embedder.model_name, sparse_embedder))
    yield QdrantChunkStore(backend)
    await backend.close()


async def test_a_scan_becomes_searchable_while_the_event_loop_keeps_running(
    embedder: Embedder, sparse_embedder: SparseEmbedder, store: ChunkStore, scanned_pdf: bytes
) -> None:
    ingestion = IngestionService(
        embedder, sparse_embedder, store, chunk_tokens=DEFAULT_CHUNK_TOKENS, max_bytes=10**7
    )
    stages: list[tuple[str, int, int]] = []

    async def progress(stage: str, done: int, total: int) -> None:
        stages.append((stage, done, total))

    ticks = 0
    ingesting = asyncio.create_task(
        ingestion.ingest(scanned_pdf, "приказ.pdf", scope=GLOBAL_SCOPE, uploaded_by=None, progress=progress)
    )
    while not ingesting.done():
        await asyncio.sleep(0.05)
        ticks += 1
    result = ingesting.result()
    # OCR takes seconds a page; a loop blocked by it would not have ticked.
    assert ticks >= 20
    assert ("ocr", 1, 2) in stages
    assert ("ocr", 2, 2) in stages
    assert result.warnings == (ParseWarning("ocr_page", 2),)
    found = await Retriever(embedder, sparse_embedder, store, RetrievalConfig()).retrieve(
        "ключ-пропуск-5520", None
    )
    assert found[0].file_name == "приказ.pdf"
    assert found[0].page == 2


async def test_without_tesseract_the_ingestion_service_refuses_the_scan(
    embedder: Embedder, sparse_embedder: SparseEmbedder, store: ChunkStore, scanned_pdf: bytes
) -> None:
    ingestion = IngestionService(
        embedder,
        sparse_embedder,
        store,
        chunk_tokens=DEFAULT_CHUNK_TOKENS,
        max_bytes=10**7,
        ocr=MISSING_TESSERACT,
    )
    with pytest.raises(ScanNeedsOcrError):
        await ingestion.ingest(scanned_pdf, "приказ.pdf", scope=GLOBAL_SCOPE, uploaded_by=None)
    assert await ingestion.documents([GLOBAL_SCOPE]) == []
