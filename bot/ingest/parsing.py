"""Turn uploaded file bytes into text sections (pure: no I/O besides parsing bytes)."""

from __future__ import annotations

import io
import re
import threading
import unicodedata
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import PurePath

import charset_normalizer
import pypdfium2 as pdfium
from bs4.dammit import EncodingDetector
from markitdown import StreamInfo
from markitdown.converters import DocxConverter, HtmlConverter

__all__ = [
    "SUPPORTED_EXTENSIONS",
    "CorruptDocumentError",
    "DocumentError",
    "EmptyDocumentError",
    "ParsedDocument",
    "Section",
    "UnsupportedFormatError",
    "parse_document",
]

HEADING_SEPARATOR = " › "


@dataclass(frozen=True)
class Section:
    text: str  # Markdown (headings kept as '#' lines) or plain text
    page: int | None  # 1-based page for paged formats (PDF), else None
    heading: str | None  # heading path, e.g. "Установка › Linux", or None


@dataclass(frozen=True)
class ParsedDocument:
    title: str
    file_name: str
    kind: str  # "pdf" | "docx" | "html" | "markdown" | "text"
    pages: int | None  # page count for PDF, else None
    sections: list[Section]

    @property
    def text(self) -> str:
        return "\n\n".join(section.text for section in self.sections)


class DocumentError(Exception):
    """Base class; str(e) is a short English reason meant for logs."""


class UnsupportedFormatError(DocumentError):
    pass


class EmptyDocumentError(DocumentError):
    pass


class CorruptDocumentError(DocumentError):
    pass


_KIND_BY_EXTENSION: dict[str, str] = {
    ".txt": "text",
    ".md": "markdown",
    ".markdown": "markdown",
    ".html": "html",
    ".htm": "html",
    ".pdf": "pdf",
    ".docx": "docx",
}
SUPPORTED_EXTENSIONS: frozenset[str] = frozenset(_KIND_BY_EXTENSION)


def parse_document(data: bytes, file_name: str) -> ParsedDocument:
    """Parse ``data`` into sections; raises only DocumentError subclasses."""
    kind = _detect_kind(data, file_name)
    if not data or data.isspace():
        raise EmptyDocumentError("file is empty")
    parser = _PARSERS[kind]
    try:
        doc = parser(data, file_name)
    except DocumentError:
        raise
    except Exception as exc:  # any library failure on bad bytes means a broken file
        raise CorruptDocumentError(f"cannot read {kind} file: {type(exc).__name__}") from exc
    if not any(section.text.strip() for section in doc.sections):
        raise EmptyDocumentError(f"no extractable text in {kind} file")
    return doc


# --- format detection -------------------------------------------------------


def _detect_kind(data: bytes, file_name: str) -> str:
    suffix = PurePath(file_name).suffix.lower()
    kind = _KIND_BY_EXTENSION.get(suffix)
    if kind is not None:
        return kind
    # Telegram users sometimes send files without (or with odd) extensions.
    # PDF readers accept the header anywhere in the first KiB, so do we.
    if b"%PDF-" in data[:1024]:
        return "pdf"
    if data.startswith(b"PK\x03\x04") and _zip_has_member(data, "word/document.xml"):
        return "docx"
    raise UnsupportedFormatError(f"unsupported file type {suffix or '(no extension)'}")


def _zip_has_member(data: bytes, member: str) -> bool:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return member in archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return False


# --- text decoding ----------------------------------------------------------

_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_MANY_BLANK_LINES = re.compile(r"\n{3,}")

# Order matters: UTF-32 LE's BOM starts with UTF-16 LE's BOM.
_BOMS: tuple[tuple[bytes, str], ...] = (
    (b"\xef\xbb\xbf", "utf-8-sig"),
    (b"\xff\xfe\x00\x00", "utf-32"),
    (b"\x00\x00\xfe\xff", "utf-32"),
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"),
)
# charset_normalizer often rates several code pages equally (chaos-wise) on
# Russian text and then ranks them by a "coherence" score that is unstable on
# short or repetitive text: CP1251 loses to mac_cyrillic, cp1125 or even
# UTF-16. Among equally clean candidates, prefer what our users produce.
_PREFERRED_ENCODINGS = ("cp1251", "koi8_r", "cp866")
_WIDE_ENCODINGS = ("utf_16", "utf_32")


def _decode_text(data: bytes, declared: str | None = None) -> str:
    text = _decode_bytes(data, declared)
    # Binary junk with a .txt name decodes "successfully" into control chars.
    if len(_CONTROL_CHARS.findall(text)) > max(1, len(text) // 100):
        raise CorruptDocumentError("not a text file (binary data)")
    return text


def _decode_bytes(data: bytes, declared: str | None) -> str:
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data.decode(encoding, errors="replace")
    # BOM-less UTF-16 of Cyrillic/ASCII is also valid UTF-8 (all bytes < 0x80),
    # so the UTF-8 shortcut is only safe when there are no NUL bytes.
    has_nul = b"\x00" in data
    if not has_nul:
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            pass
        if declared:
            try:
                return data.decode(declared)
            except (LookupError, UnicodeDecodeError):
                pass  # a wrong <meta charset> is common; fall back to detection
    candidates = [
        match
        for match in charset_normalizer.from_bytes(data)
        if has_nul or not match.encoding.startswith(_WIDE_ENCODINGS)
    ]
    if not candidates:
        raise CorruptDocumentError("not a text file (unknown encoding)")
    least_chaos = min(match.chaos for match in candidates)
    tied = [match for match in candidates if match.chaos <= least_chaos]
    for preferred in _PREFERRED_ENCODINGS:
        for match in tied:
            if match.encoding == preferred:
                return str(match)
    return str(tied[0])


def _normalise(text: str) -> str:
    # NFC so decomposed "й"/"ё" (frequent in PDFs and macOS files) match typed
    # queries; control chars (NUL especially) break storage and tokenizers.
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = _CONTROL_CHARS.sub("", text)
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    return _MANY_BLANK_LINES.sub("\n\n", text).strip()


def _stem(file_name: str) -> str:
    return PurePath(file_name).stem or file_name


def _clean_title(title: str | None) -> str | None:
    if title is None:
        return None
    title = " ".join(title.split())
    return title or None


# --- Markdown sectioning ----------------------------------------------------
# No Markdown parser is a dependency and we only need headings, so a small
# line scanner is enough; it skips fenced code so "# comment" lines in code
# blocks are not taken for headings.

_ATX_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT_UNDERLINE = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_NOT_SETEXT_TEXT = re.compile(r"^(?: {4}|\t| {0,3}(?:[>*+-]|\d{1,9}[.)])(?:[ \t]|$))")
_INLINE_MARKUP = re.compile(r"\*\*|__|(?<!\w)[*_](?=\S)|(?<=\S)[*_](?!\w)|`")
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")


@dataclass(frozen=True)
class _Heading:
    start: int  # index of the first line of the heading (the text line for setext)
    level: int
    title: str


def _heading_title(raw: str) -> str:
    title = _LINK.sub(r"\1", raw)
    title = _INLINE_MARKUP.sub("", title)
    return " ".join(_ESCAPE.sub(r"\1", title).split())


def _find_headings(lines: list[str]) -> list[_Heading]:
    headings: list[_Heading] = []
    fence: str | None = None
    previous_is_text = False
    for index, line in enumerate(lines):
        fence_match = _FENCE.match(line)
        if fence is not None:
            marker = fence_match.group(1) if fence_match else ""
            if marker[:1] == fence[0] and len(marker) >= len(fence):
                fence = None
            previous_is_text = False
            continue
        if fence_match:
            fence = fence_match.group(1)
            previous_is_text = False
            continue
        atx = _ATX_HEADING.match(line)
        if atx:
            headings.append(_Heading(index, len(atx.group(1)), _heading_title(atx.group(2) or "")))
            previous_is_text = False
            continue
        setext = _SETEXT_UNDERLINE.match(line)
        if setext and previous_is_text:
            level = 1 if setext.group(1)[0] == "=" else 2
            headings.append(_Heading(index - 1, level, _heading_title(lines[index - 1])))
            previous_is_text = False
            continue
        previous_is_text = bool(line.strip()) and not _NOT_SETEXT_TEXT.match(line) and "|" not in line
    return headings


def _markdown_sections(markdown: str) -> tuple[list[Section], str | None]:
    """Split at headings; returns the sections and the first H1 (title candidate)."""
    lines = markdown.split("\n")
    headings = _find_headings(lines)
    sections: list[Section] = []

    def add(start: int, end: int, heading: str | None) -> None:
        text = "\n".join(lines[start:end]).strip()
        if text:
            sections.append(Section(text=text, page=None, heading=heading))

    add(0, headings[0].start if headings else len(lines), None)
    path: list[tuple[int, str]] = []
    for position, heading in enumerate(headings):
        while path and path[-1][0] >= heading.level:
            path.pop()
        if heading.title:  # an empty "#" line opens a section but adds no name
            path.append((heading.level, heading.title))
        end = headings[position + 1].start if position + 1 < len(headings) else len(lines)
        add(heading.start, end, HEADING_SEPARATOR.join(title for _, title in path) or None)
    first_h1 = next((h.title for h in headings if h.level == 1 and h.title), None)
    return sections, first_h1


# Mammoth inlines pictures as data: URIs that markitdown truncates to junk like
# "data:image/png;base64..."; keep only the alt text, which may carry meaning.
_DATA_URI_IMAGE = re.compile(r"!\[([^\]]*)\]\(data:[^)]*\)")


def _from_markdown(markdown: str, file_name: str, kind: str, title: str | None) -> ParsedDocument:
    markdown = _normalise(_DATA_URI_IMAGE.sub(r"\1", markdown))
    sections, first_h1 = _markdown_sections(markdown)
    return ParsedDocument(
        title=_clean_title(title) or first_h1 or _stem(file_name),
        file_name=file_name,
        kind=kind,
        pages=None,
        sections=sections,
    )


# --- per-format parsers -----------------------------------------------------


def _parse_text(data: bytes, file_name: str) -> ParsedDocument:
    text = _normalise(_decode_text(data))
    return ParsedDocument(
        title=_stem(file_name),
        file_name=file_name,
        kind="text",
        pages=None,
        sections=[Section(text=text, page=None, heading=None)] if text else [],
    )


def _parse_markdown(data: bytes, file_name: str) -> ParsedDocument:
    return _from_markdown(_decode_text(data), file_name, "markdown", None)


def _parse_html(data: bytes, file_name: str) -> ParsedDocument:
    declared = EncodingDetector.find_declared_encoding(data, is_html=True)
    html = _decode_text(data, declared)
    # markitdown drops <script>/<style> and renders headings as '#'.
    # Escaped "\*"/"\_" would end up in what the LLM reads and we embed.
    result = HtmlConverter().convert_string(html, escape_asterisks=False, escape_underscores=False)
    return _from_markdown(result.markdown, file_name, "html", result.title)


_CORE_NS = {"dc": "http://purl.org/dc/elements/1.1/"}


def _docx_core_title(data: bytes) -> str | None:
    # Plain ElementTree is safe here: expat >= 2.4 caps entity expansion
    # (billion laughs), and core.xml is a few hundred bytes.
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        if "docProps/core.xml" not in archive.namelist():
            return None
        root = ET.fromstring(archive.read("docProps/core.xml"))
    element = root.find("dc:title", _CORE_NS)
    return None if element is None else element.text


def _parse_docx(data: bytes, file_name: str) -> ParsedDocument:
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise CorruptDocumentError("not a valid DOCX (zip) file")
    # markitdown runs mammoth, which maps Word heading styles to <hN>, then '#'.
    converter = DocxConverter()  # type: ignore[no-untyped-call]  # markitdown leaves __init__ unannotated
    result = converter.convert(
        io.BytesIO(data), StreamInfo(extension=".docx"), escape_asterisks=False, escape_underscores=False
    )
    return _from_markdown(result.markdown, file_name, "docx", _docx_core_title(data))


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
    return _normalise(text.replace("\ufffe", "-"))


def _pdf_pages(pdf: pdfium.PdfDocument) -> Iterator[str]:
    for index in range(len(pdf)):
        page = pdf[index]
        textpage = page.get_textpage()
        try:
            # get_text_range, not get_text_bounded: the latter dropped words
            # before PDFium-detected hyphens in our tests.
            yield str(textpage.get_text_range())
        finally:
            textpage.close()
            page.close()


def _pdf_title(metadata_title: object) -> str | None:
    title = _clean_title(str(metadata_title)) if metadata_title else None
    if title is None or title.lower() in {"untitled", "без названия"}:
        return None
    office = _OFFICE_TITLE.fullmatch(title)
    return (office.group(1) or None) if office else title


def _parse_pdf(data: bytes, file_name: str) -> ParsedDocument:
    with _PDFIUM_LOCK:
        try:
            pdf = pdfium.PdfDocument(data)
        except pdfium.PdfiumError as exc:
            if getattr(exc, "err_code", None) == _PDFIUM_PASSWORD_ERROR:
                raise CorruptDocumentError("password-protected PDF") from exc
            raise CorruptDocumentError("unreadable PDF") from exc
        try:
            page_count = len(pdf)
            metadata_title = pdf.get_metadata_value("Title")
            raw_pages = list(_pdf_pages(pdf))
        finally:
            pdf.close()
    if page_count == 0:
        raise EmptyDocumentError("PDF has no pages")
    sections = [
        Section(text=text, page=number, heading=None)
        for number, text in enumerate((_clean_pdf_text(raw) for raw in raw_pages), start=1)
        if text
    ]
    if not sections:
        raise EmptyDocumentError(
            f"PDF has {page_count} page(s) but no text layer; it looks scanned (OCR is not supported)"
        )
    return ParsedDocument(
        title=_pdf_title(metadata_title) or _stem(file_name),
        file_name=file_name,
        kind="pdf",
        pages=page_count,
        sections=sections,
    )


_PARSERS: dict[str, Callable[[bytes, str], ParsedDocument]] = {
    "text": _parse_text,
    "markdown": _parse_markdown,
    "html": _parse_html,
    "docx": _parse_docx,
    "pdf": _parse_pdf,
}
