"""Turn uploaded file bytes into text sections (pure: no I/O besides parsing bytes).

The model and errors live in bot.ingest.document and the container formats in
bot.ingest.formats; this module picks the parser and is the public entry point.
"""

from __future__ import annotations

import io
import re
import threading
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import PurePath

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
from bs4.dammit import EncodingDetector
from markitdown.converters import HtmlConverter

from bot.ingest.document import (
    HEADING_SEPARATOR,
    CorruptDocumentError,
    DocumentError,
    EmptyDocumentError,
    ParsedDocument,
    ParseWarning,
    PasswordProtectedError,
    ScanNeedsOcrError,
    Section,
    UnsupportedFormatError,
    clean_title,
    decode_text,
    from_markdown,
    normalise,
    stem,
)
from bot.ingest.formats.docx import parse_docx
from bot.ingest.formats.ebook import parse_epub
from bot.ingest.formats.images import IMAGE_EXTENSIONS, is_image, parse_image
from bot.ingest.formats.sheets import parse_xlsx
from bot.ingest.formats.slides import parse_pptx
from bot.ingest.formats.webpage import parse_web_page
from bot.ingest.formats.zipguard import check_not_encrypted_office
from bot.ingest.ocr import DEFAULT_OCR, OCR_DPI, OcrEngine, OcrError, OcrUnavailableError, PageProgress

__all__ = [
    "HEADING_SEPARATOR",
    "SUPPORTED_EXTENSIONS",
    "CorruptDocumentError",
    "DocumentError",
    "EmptyDocumentError",
    "ParsedDocument",
    "PasswordProtectedError",
    "ScanNeedsOcrError",
    "Section",
    "UnsupportedFormatError",
    "parse_document",
    "parse_web_page",
]

_KIND_BY_EXTENSION: dict[str, str] = {
    ".txt": "text",
    ".md": "markdown",
    ".markdown": "markdown",
    ".html": "html",
    ".htm": "html",
    ".xhtml": "html",
    ".pdf": "pdf",
    ".docx": "docx",
    ".pptx": "pptx",
    ".xlsx": "xlsx",
    ".epub": "epub",
    **dict.fromkeys(IMAGE_EXTENSIONS, "image"),
}
SUPPORTED_EXTENSIONS: frozenset[str] = frozenset(_KIND_BY_EXTENSION)


def parse_document(
    data: bytes,
    file_name: str,
    *,
    ocr: OcrEngine | None = DEFAULT_OCR,
    on_page: PageProgress | None = None,
) -> ParsedDocument:
    """Parse ``data`` into sections; raises only DocumentError subclasses.

    Scanned PDF pages and images are read with ``ocr`` (None: not at all), calling
    ``on_page(done, total)`` after each recognised page. CPU-bound: call it off the event loop.
    """
    kind = _detect_kind(data, file_name)
    if not data or data.isspace():
        raise EmptyDocumentError("file is empty")
    try:
        if kind == "pdf":
            doc = _parse_pdf(data, file_name, ocr, on_page)
        elif kind == "image":
            doc = parse_image(data, file_name, ocr, on_page)
        else:
            doc = _PARSERS[kind](data, file_name)
    except DocumentError:
        raise
    except Exception as exc:  # any library failure on bad bytes means a broken file
        raise CorruptDocumentError(f"cannot read {kind} file: {type(exc).__name__}") from exc
    if not any(section.text.strip() for section in doc.sections):
        raise EmptyDocumentError(f"no extractable text in {kind} file")
    return doc


# --- format detection -------------------------------------------------------

# A zip's members tell the Office/EPUB formats apart when the name does not.
_ZIP_MARKERS = (
    ("word/document.xml", "docx"),
    ("ppt/presentation.xml", "pptx"),
    ("xl/workbook.xml", "xlsx"),
    ("META-INF/container.xml", "epub"),
)


def _detect_kind(data: bytes, file_name: str) -> str:
    suffix = PurePath(file_name).suffix.lower()
    kind = _KIND_BY_EXTENSION.get(suffix)
    if kind is not None:
        return kind
    # Telegram users sometimes send files without (or with odd) extensions.
    # PDF readers accept the header anywhere in the first KiB, so do we.
    if b"%PDF-" in data[:1024]:
        return "pdf"
    if is_image(data):
        return "image"
    if data.startswith(b"PK\x03\x04"):
        names = _zip_names(data)
        for member, zip_kind in _ZIP_MARKERS:
            if member in names:
                return zip_kind
    else:
        check_not_encrypted_office(data)  # an encrypted .docx renamed: say it is locked
    raise UnsupportedFormatError(f"unsupported file type {suffix or '(no extension)'}")


def _zip_names(data: bytes) -> set[str]:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return set(archive.namelist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return set()


# --- per-format parsers -----------------------------------------------------


def _parse_text(data: bytes, file_name: str) -> ParsedDocument:
    text = normalise(decode_text(data))
    return ParsedDocument(
        title=stem(file_name),
        file_name=file_name,
        kind="text",
        pages=None,
        sections=[Section(text=text, page=None, heading=None)] if text else [],
    )


def _parse_markdown(data: bytes, file_name: str) -> ParsedDocument:
    return from_markdown(decode_text(data), file_name, "markdown", None)


def _parse_html(data: bytes, file_name: str) -> ParsedDocument:
    declared = EncodingDetector.find_declared_encoding(data, is_html=True)
    html = decode_text(data, declared)
    # markitdown drops <script>/<style> and renders headings as '#'.
    # Escaped "\*"/"\_" would end up in what the LLM reads and we embed.
    result = HtmlConverter().convert_string(html, escape_asterisks=False, escape_underscores=False)
    return from_markdown(result.markdown, file_name, "html", result.title)


# PDFium is not thread-safe and the bot may parse in worker threads.
_PDFIUM_LOCK = threading.Lock()
_PDFIUM_PASSWORD_ERROR = 4  # FPDF_ERR_PASSWORD
# Office's PDF printer stores titles like "Microsoft Word - Отчёт.docx".
_OFFICE_TITLE = re.compile(r"\s*Microsoft (?:Word|PowerPoint|Excel) - (.*?)(?:\.(?:docx?|pptx?|xlsx?))?\s*")

# PDFium reports a hyphen it judged to be line-end hyphenation as U+FFFE (or
# \x02) and drops the line break; a plain "-\n" can remain too. Joining is only
# safe between two lowercase letters ("перено-сится"); "Санкт-Петербург" keeps it.
_PDF_HYPHEN = re.compile(r"(\w)(?:[\ufffe\x02]|-\n)(\w)")


def _join_hyphen(match: re.Match[str]) -> str:
    left, right = match.group(1), match.group(2)
    if left.islower() and right.islower():
        return left + right
    return match.group(0).replace("\ufffe", "-").replace("\x02", "-")


def _clean_pdf_text(raw: str) -> str:
    text = raw.replace("\r\n", "\n").replace("\r", "\n").replace("\u00ad", "")
    text = _PDF_HYPHEN.sub(_join_hyphen, text)
    return normalise(text.replace("\ufffe", "-"))


def _pdf_pages(pdf: pdfium.PdfDocument) -> Iterator[tuple[str, bool]]:
    """(text layer, whether the page holds an image) for each page."""
    for index in range(len(pdf)):
        page = pdf[index]
        textpage = page.get_textpage()
        try:
            # get_text_range, not get_text_bounded: the latter dropped words
            # before PDFium-detected hyphens in our tests.
            has_image = next(page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE]), None) is not None
            yield str(textpage.get_text_range()), has_image
        finally:
            textpage.close()
            page.close()


def _pdf_title(metadata_title: object) -> str | None:
    title = clean_title(str(metadata_title)) if metadata_title else None
    if title is None or title.lower() in {"untitled", "без названия"}:
        return None
    office = _OFFICE_TITLE.fullmatch(title)
    return (office.group(1) or None) if office else title


# A scanned page often carries a stamp of text ("Scanned by ...", a page number): an image with
# fewer characters than this is a page without a text layer, and it is read by OCR.
_MIN_TEXT_LAYER_CHARS = 16


@dataclass(frozen=True)
class _OcrOutcome:
    texts: dict[int, str]  # page index → recognised text
    unread: int  # pages without a text layer that OCR could not read
    no_ocr: bool = False  # OCR is off or not installed, so no page was even tried


def _parse_pdf(
    data: bytes, file_name: str, ocr: OcrEngine | None, on_page: PageProgress | None
) -> ParsedDocument:
    with _PDFIUM_LOCK:
        try:
            pdf = pdfium.PdfDocument(data)
        except pdfium.PdfiumError as exc:
            if getattr(exc, "err_code", None) == _PDFIUM_PASSWORD_ERROR:
                raise PasswordProtectedError("password-protected PDF") from exc
            raise CorruptDocumentError("unreadable PDF") from exc
        try:
            page_count = len(pdf)
            metadata_title = pdf.get_metadata_value("Title")
            pages = [(_clean_pdf_text(raw), has_image) for raw, has_image in _pdf_pages(pdf)]
        finally:
            pdf.close()
    if page_count == 0:
        raise EmptyDocumentError("PDF has no pages")
    texts = [text for text, _ in pages]
    # A scan is an image with (almost) no text layer; a blank or title-only page is left as it is.
    scanned = [
        i
        for i, (text, has_image) in enumerate(pages)
        if has_image and len("".join(text.split())) < _MIN_TEXT_LAYER_CHARS
    ]
    outcome = _ocr_pages(data, scanned, ocr, on_page) if scanned else _OcrOutcome({}, 0)
    for index, text in outcome.texts.items():
        texts[index] = text
    sections = [
        Section(text=text, page=number, heading=None) for number, text in enumerate(texts, start=1) if text
    ]
    if not sections and outcome.no_ocr:
        raise ScanNeedsOcrError(
            f"PDF has {page_count} page(s) but no text layer; it looks scanned (OCR is not available)"
        )
    if not sections:
        raise EmptyDocumentError(f"PDF has {page_count} page(s) and no text, not even by OCR")
    warnings = [ParseWarning("ocr_page", len(outcome.texts))] if outcome.texts else []
    warnings += [ParseWarning("page_without_text", outcome.unread)] if outcome.unread else []
    return ParsedDocument(
        title=_pdf_title(metadata_title) or stem(file_name),
        file_name=file_name,
        kind="pdf",
        pages=page_count,
        sections=sections,
        warnings=tuple(warnings),
    )


def _ocr_pages(
    data: bytes, indexes: list[int], ocr: OcrEngine | None, on_page: PageProgress | None
) -> _OcrOutcome:
    """Render each page at OCR_DPI (PDFium, under its lock) and read it with Tesseract (outside it)."""
    if ocr is None:
        return _OcrOutcome({}, len(indexes), no_ocr=True)
    texts: dict[int, str] = {}
    unread = 0
    for done, index in enumerate(indexes, start=1):
        with _PDFIUM_LOCK:
            pdf = pdfium.PdfDocument(data)
            try:
                page = pdf[index]
                try:
                    image = page.render(scale=OCR_DPI / 72, grayscale=True).to_pil()
                finally:
                    page.close()
            finally:
                pdf.close()
        try:
            text = normalise(ocr.read(image, OCR_DPI))
        except OcrUnavailableError:
            # No binary: no later page either.
            return _OcrOutcome(texts, len(indexes) - done + 1 + unread, no_ocr=not texts)
        except OcrError:
            text = ""  # this page only (a timeout): the rest of the document still counts
            unread += 1
        if text:
            texts[index] = text  # a blank page stays blank, and is no loss
        if on_page is not None:
            on_page(done, len(indexes))
    return _OcrOutcome(texts, unread)


_PARSERS: dict[str, Callable[[bytes, str], ParsedDocument]] = {
    "text": _parse_text,
    "markdown": _parse_markdown,
    "html": _parse_html,
    "docx": parse_docx,
    "pptx": parse_pptx,
    "xlsx": parse_xlsx,
    "epub": parse_epub,
}
