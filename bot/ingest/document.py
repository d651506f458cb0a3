"""The parsed-document model, its errors, and text helpers every format parser shares."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import PurePath
from typing import Literal, get_args

import charset_normalizer

from bot.ingest.cyrillic import best_cyrillic_decoding

__all__ = [
    "HEADING_SEPARATOR",
    "CorruptDocumentError",
    "DocumentError",
    "DocumentTooLargeError",
    "EmptyDocumentError",
    "ParseWarning",
    "ParsedDocument",
    "PasswordProtectedError",
    "ScanNeedsOcrError",
    "Section",
    "UnsupportedFormatError",
    "WarningKind",
    "clean_markdown",
    "clean_title",
    "count_warnings",
    "decode_text",
    "describe_warnings",
    "from_markdown",
    "join_heading",
    "markdown_sections",
    "markdown_table",
    "normalise",
    "stem",
]

HEADING_SEPARATOR = " › "


@dataclass(frozen=True)
class Section:
    text: str  # Markdown (headings kept as '#' lines) or plain text
    page: int | None  # 1-based page (PDF) or slide (PPTX) number, else None
    heading: str | None  # heading path, e.g. "Установка › Linux", or None


# What a parser met but could not turn into searchable text, or indexed only in part (issue 11):
# the admin is told instead of a silent "indexed".
WarningKind = Literal[
    "image_without_text",  # a picture (no OCR of embedded pictures; an image upload or a scan is OCR-ed)
    "embedded_object",  # an OLE object or embedded package: another program's file inside this one
    "formula_without_value",  # indexed as its formula text: the file was saved without computed values
    "hidden_sheet",  # indexed, and marked "(hidden)": searchable though Excel does not show it
    "page_without_text",  # a scanned page left unread because OCR is not available
    "ocr_page",  # a page or image read by OCR: its text may have recognition errors
]


@dataclass(frozen=True)
class ParseWarning:
    """``count`` occurrences of one ``kind`` in a document, e.g. ("formula_without_value", 3)."""

    kind: WarningKind
    count: int


def count_warnings(counts: Mapping[WarningKind, int]) -> tuple[ParseWarning, ...]:
    """The non-zero counts as warnings, in a stable order (the order of WarningKind)."""
    return tuple(ParseWarning(kind, counts[kind]) for kind in get_args(WarningKind) if counts.get(kind))


_WARNING_WORDS: dict[WarningKind, tuple[str, str]] = {
    "image_without_text": ("image without text", "images without text"),
    "embedded_object": ("embedded object not read", "embedded objects not read"),
    "formula_without_value": ("formula without a value", "formulas without values"),
    "hidden_sheet": ("hidden sheet", "hidden sheets"),
    "page_without_text": ("page without text (no OCR)", "pages without text (no OCR)"),
    "ocr_page": ("page read by OCR", "pages read by OCR"),
}


def describe_warnings(warnings: Iterable[ParseWarning]) -> str:
    """English, for the CLI and logs: "2 images without text, 3 formulas without values"."""
    return ", ".join(
        f"{w.count} {_WARNING_WORDS[w.kind][0 if w.count == 1 else 1]}" for w in warnings if w.count
    )


@dataclass(frozen=True)
class ParsedDocument:
    title: str
    file_name: str  # the upload's name, or the page's URL for web pages
    kind: str  # "pdf" | "docx" | "pptx" | "xlsx" | "epub" | "html" | "web" | "markdown" | "text" | "image"
    pages: int | None  # page count for PDF, slide count for PPTX, frames of an image, else None
    sections: list[Section]
    warnings: tuple[ParseWarning, ...] = ()

    @property
    def text(self) -> str:
        return "\n\n".join(section.text for section in self.sections)


class DocumentError(Exception):
    """Base class; str(e) is a short English reason meant for logs."""


class UnsupportedFormatError(DocumentError):
    pass


class EmptyDocumentError(DocumentError):
    pass


class ScanNeedsOcrError(EmptyDocumentError):
    """A scan or photo with no text layer, and text recognition is off or not installed (Tesseract)."""


class CorruptDocumentError(DocumentError):
    pass


class DocumentTooLargeError(DocumentError):
    """Parsed content too big to index (e.g. millions of spreadsheet cells), whatever the file size."""


class PasswordProtectedError(CorruptDocumentError):
    """An encrypted PDF or Office file: the admin has to remove the password, not repair the file."""


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


def decode_text(data: bytes, declared: str | None = None) -> str:
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
    cyrillic = None if has_nul else best_cyrillic_decoding(data)
    if not candidates:
        if cyrillic is not None:
            return cyrillic
        raise CorruptDocumentError("not a text file (unknown encoding)")
    least_chaos = min(match.chaos for match in candidates)
    tied = [match for match in candidates if match.chaos <= least_chaos]
    preferred = (match for name in _PREFERRED_ENCODINGS for match in tied if match.encoding == name)
    guess = next(preferred, tied[0])
    # charset_normalizer reads short KOI8-R as Shift_JIS katakana and mixes the Cyrillic code pages up
    # on short notes; bytes that read as plausible Russian in one of them are Russian (issue 11).
    return cyrillic if cyrillic is not None else str(guess)


def normalise(text: str) -> str:
    # NFC so decomposed "й"/"ё" (frequent in PDFs and macOS files) match typed
    # queries; control chars (NUL especially) break storage and tokenizers.
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = _CONTROL_CHARS.sub("", text)
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    return _MANY_BLANK_LINES.sub("\n\n", text).strip()


def stem(file_name: str) -> str:
    return PurePath(file_name).stem or file_name


def clean_title(title: str | None) -> str | None:
    if title is None:
        return None
    title = " ".join(title.split())
    return title or None


def join_heading(*parts: str | None) -> str | None:
    return HEADING_SEPARATOR.join(part for part in parts if part) or None


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


def markdown_sections(
    markdown: str, *, page: int | None = None, root: str | None = None
) -> tuple[list[Section], str | None]:
    """Split at headings; returns the sections and the first H1 (title candidate).

    ``root`` (a slide or chapter title) prefixes every heading path, unless the
    path already starts with it (a chapter whose first heading is its title).
    """
    lines = markdown.split("\n")
    headings = _find_headings(lines)
    sections: list[Section] = []

    def add(start: int, end: int, heading: str | None) -> None:
        text = "\n".join(lines[start:end]).strip()
        if not text:
            return
        if root and (heading is None or heading.split(HEADING_SEPARATOR)[0] != root):
            heading = join_heading(root, heading)
        sections.append(Section(text=text, page=page, heading=heading))

    add(0, headings[0].start if headings else len(lines), None)
    path: list[tuple[int, str]] = []
    for position, heading in enumerate(headings):
        while path and path[-1][0] >= heading.level:
            path.pop()
        if heading.title:  # an empty "#" line opens a section but adds no name
            path.append((heading.level, heading.title))
        end = headings[position + 1].start if position + 1 < len(headings) else len(lines)
        add(heading.start, end, join_heading(*(title for _, title in path)))
    first_h1 = next((h.title for h in headings if h.level == 1 and h.title), None)
    return sections, first_h1


# Mammoth inlines pictures as data: URIs that markitdown truncates to junk like
# "data:image/png;base64..."; keep only the alt text, which may carry meaning.
_DATA_URI_IMAGE = re.compile(r"!\[([^\]]*)\]\(data:[^)]*\)")


def clean_markdown(markdown: str) -> str:
    return normalise(_DATA_URI_IMAGE.sub(r"\1", markdown))


def from_markdown(markdown: str, file_name: str, kind: str, title: str | None) -> ParsedDocument:
    sections, first_h1 = markdown_sections(clean_markdown(markdown))
    return ParsedDocument(
        title=clean_title(title) or first_h1 or stem(file_name),
        file_name=file_name,
        kind=kind,
        pages=None,
        sections=sections,
    )


def markdown_table(rows: list[list[str]]) -> str:
    """Render rows (the first is the header) as a Markdown table; cells are single-line."""
    width = max(len(row) for row in rows)
    lines = []
    for index, row in enumerate(rows):
        cells = [_table_cell(cell) for cell in row] + [""] * (width - len(row))
        lines.append("| " + " | ".join(cells) + " |")
        if index == 0:
            lines.append("|" + "---|" * width)
    return "\n".join(lines)


def _table_cell(value: str) -> str:
    # A "|" would open a new column and a newline would end the row.
    return " ".join(value.split()).replace("|", "\\|")
