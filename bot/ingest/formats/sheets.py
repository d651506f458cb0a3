"""XLSX: one section per sheet (heading = sheet name), the cells as a Markdown table.

openpyxl in read-only mode streams rows instead of building the whole workbook
in memory, and gives cached formula results (data_only). markitdown's converter
would pull in pandas for the same table.

Nothing is dropped silently (issue 11): a formula saved without its computed value (files written
by scripts) is indexed as its formula text, marked; a merged block repeats its value in every cell
it spans (read-only openpyxl does not report merges, so they are read from the sheet's XML); a
hidden sheet is indexed under its name marked "(hidden)"; pictures and embedded objects are counted.
"""

from __future__ import annotations

import datetime as dt
import io
import itertools
import zipfile
from collections import Counter
from collections.abc import Iterable, Iterator

import openpyxl
from lxml import etree
from openpyxl.utils.cell import range_boundaries
from openpyxl.worksheet._read_only import ReadOnlyWorksheet

from bot.ingest.document import (
    DocumentTooLargeError,
    ParsedDocument,
    Section,
    WarningKind,
    clean_title,
    count_warnings,
    markdown_table,
    normalise,
    stem,
)
from bot.ingest.formats.ooxml import NS, chart_title, part_relationships, read_part
from bot.ingest.formats.zipguard import open_zip

__all__ = ["MAX_CELLS", "parse_xlsx"]

# About 20 MB of Markdown, i.e. some 15,000 chunks: hours of embedding on a CPU.
MAX_CELLS = 2_000_000


FORMULA_MARK = "(formula, no value saved)"
HIDDEN_MARK = "(hidden)"
_RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


def parse_xlsx(data: bytes, file_name: str) -> ParsedDocument:
    archive = open_zip(data, "xlsx")
    counts: Counter[WarningKind] = Counter()
    # Two streaming passes over the same rows: cached values, and the formulas behind empty ones.
    workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    formulas = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    try:
        sections = []
        budget = _CellBudget()
        for sheet, formula_sheet in zip(workbook.worksheets, formulas.worksheets, strict=True):
            part = None
            if isinstance(sheet, ReadOnlyWorksheet) and isinstance(formula_sheet, ReadOnlyWorksheet):
                # A stale <dimension ref="A1:XFD1048576"> would pad every row to 16,384 cells.
                sheet.reset_dimensions()
                formula_sheet.reset_dimensions()
                part = sheet._worksheet_path.lstrip("/")  # openpyxl keeps no public name for it
            grid = _grid(
                budget.count(sheet.iter_rows(values_only=True)),
                formula_sheet.iter_rows(values_only=True),
                counts,
            )
            notes: list[str] = []
            if part is not None:
                _repeat_merged_values(grid, _merged_ranges(archive, part))
                notes = list(_drawings(archive, part, counts))
            rows = _rows(grid)
            hidden = sheet.sheet_state != "visible"
            if rows or notes:
                counts["hidden_sheet"] += hidden
                name = clean_title(sheet.title)
                heading = f"{name} {HIDDEN_MARK}" if hidden and name else name
                body = "\n\n".join(([markdown_table(rows)] if rows else []) + notes)
                sections.append(Section(text=normalise(body), page=None, heading=heading))
        title = clean_title(workbook.properties.title)
    finally:
        workbook.close()
        formulas.close()
        archive.close()
    return ParsedDocument(
        title=title or stem(file_name),
        file_name=file_name,
        kind="xlsx",
        pages=None,
        sections=sections,
        warnings=count_warnings(counts),
    )


def _grid(
    values: Iterable[tuple[object, ...]], formulas: Iterable[tuple[object, ...]], counts: Counter[WarningKind]
) -> list[list[str]]:
    """All rows from A1 on, as text; a formula without a cached value becomes its marked formula."""
    grid = []
    for value_row, formula_row in itertools.zip_longest(values, formulas, fillvalue=()):
        row = [_cell(value) for value in value_row]
        for column, formula in enumerate(formula_row):
            text = getattr(formula, "text", formula)  # an ArrayFormula keeps its formula in .text
            if isinstance(text, str) and text.startswith("=") and (column >= len(row) or not row[column]):
                row += [""] * (column + 1 - len(row))
                row[column] = f"{text} {FORMULA_MARK}"
                counts["formula_without_value"] += 1
        grid.append(row)
    return grid


def _merged_ranges(archive: zipfile.ZipFile, part: str) -> list[tuple[int, int, int, int]]:
    """(min_col, min_row, max_col, max_row) of each merged block, streamed from the sheet's XML."""
    if part not in archive.namelist():
        return []
    ranges = []
    with archive.open(part) as source:
        # iterparse with these options reads no DTD and resolves no entities (OWASP XXE prevention).
        for _, element in etree.iterparse(
            source, tag=f"{{{NS['x']}}}mergeCell", resolve_entities=False, no_network=True, load_dtd=False
        ):
            bounds = range_boundaries(element.get("ref", ""))
            if None not in bounds:
                ranges.append(bounds)
            element.clear()
    return ranges


def _repeat_merged_values(grid: list[list[str]], ranges: list[tuple[int, int, int, int]]) -> None:
    for min_col, min_row, max_col, max_row in ranges:
        if min_row > len(grid) or min_col > len(grid[min_row - 1]):
            continue
        value = grid[min_row - 1][min_col - 1]
        for row in range(min_row, min(max_row, len(grid)) + 1):
            cells = grid[row - 1]
            cells += [""] * (max_col - len(cells))
            for column in range(min_col, max_col + 1):
                if not cells[column - 1]:
                    cells[column - 1] = value


def _drawings(archive: zipfile.ZipFile, part: str, counts: Counter[WarningKind]) -> Iterator[str]:
    """Chart titles of the sheet's drawing, as lines; its pictures and embedded objects counted."""
    for rel_type, target in part_relationships(archive, part).values():
        if rel_type.endswith("/oleObject") or rel_type.endswith("/package"):
            counts["embedded_object"] += 1
        if not rel_type.endswith("/drawing"):
            continue
        drawing = part_relationships(archive, target)
        root = read_part(archive, target)
        if root is None:
            continue
        counts["image_without_text"] += sum(1 for _ in root.iter(f"{{{NS['xdr']}}}pic"))
        for chart in root.iter(f"{{{NS['c']}}}chart"):
            found = drawing.get(chart.get(f"{{{_RELS}}}id") or "")
            title = chart_title(archive, found[1]) if found else None
            if title:
                yield f"Chart: {title}"


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


def _rows(grid: list[list[str]]) -> list[list[str]]:
    """Non-empty rows, without the empty columns to the right of all data."""
    rows = [row for row in grid if any(row)]
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
