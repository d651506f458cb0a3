"""XLSX: one section per sheet (heading = sheet name), the cells as a Markdown table.

openpyxl in read-only mode streams rows instead of building the whole workbook
in memory, and gives cached formula results (data_only). markitdown's converter
would pull in pandas for the same table.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterable, Iterator

import openpyxl
from openpyxl.worksheet._read_only import ReadOnlyWorksheet

from bot.ingest.document import (
    DocumentTooLargeError,
    ParsedDocument,
    Section,
    clean_title,
    markdown_table,
    normalise,
    stem,
)
from bot.ingest.formats.zipguard import open_zip

__all__ = ["MAX_CELLS", "parse_xlsx"]

# About 20 MB of Markdown, i.e. some 15,000 chunks: hours of embedding on a CPU.
MAX_CELLS = 2_000_000


def parse_xlsx(data: bytes, file_name: str) -> ParsedDocument:
    open_zip(data, "xlsx").close()
    workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        sections = []
        budget = _CellBudget()
        for sheet in workbook.worksheets:
            if isinstance(sheet, ReadOnlyWorksheet):
                # A stale <dimension ref="A1:XFD1048576"> would pad every row to 16,384 cells.
                sheet.reset_dimensions()
            rows = _rows(budget.count(sheet.iter_rows(values_only=True)))
            if rows:
                name = clean_title(sheet.title)
                sections.append(Section(text=normalise(markdown_table(rows)), page=None, heading=name))
        title = clean_title(workbook.properties.title)
    finally:
        workbook.close()
    return ParsedDocument(
        title=title or stem(file_name),
        file_name=file_name,
        kind="xlsx",
        pages=None,
        sections=sections,
    )


class _CellBudget:
    """Refuse a workbook too big to embed sensibly before it fills the memory."""

    def __init__(self, limit: int = MAX_CELLS) -> None:
        self.left = limit

    def count(self, rows: Iterable[tuple[object, ...]]) -> Iterator[tuple[object, ...]]:
        for row in rows:
            self.left -= len(row)
            if self.left < 0:
                raise DocumentTooLargeError(f"spreadsheet has more than {MAX_CELLS:,} cells")
            yield row


def _rows(values: Iterable[tuple[object, ...]]) -> list[list[str]]:
    """Non-empty rows as text, without the empty columns to the right of all data."""
    rows = [[_cell(value) for value in row] for row in values]
    rows = [row for row in rows if any(row)]
    width = max((max(i for i, cell in enumerate(row) if cell) + 1 for row in rows), default=0)
    return [row[:width] for row in rows]


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).upper()  # as Excel shows it
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value).strip()
