"""PPTX: one section per slide, page = slide number, heading = the slide's title.

python-pptx directly rather than markitdown's converter: it keeps bullet levels
as Markdown lists and skips picture placeholders ("![Picture 3](Picture3.jpg)")
that would only add noise to what we embed.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator

import pptx
from pptx.enum.shapes import MSO_SHAPE_TYPE
from pptx.shapes.base import BaseShape
from pptx.shapes.graphfrm import GraphicFrame
from pptx.shapes.group import GroupShape
from pptx.text.text import TextFrame

from bot.ingest.document import (
    ParsedDocument,
    Section,
    clean_title,
    markdown_table,
    normalise,
    stem,
)
from bot.ingest.formats.zipguard import open_zip

__all__ = ["parse_pptx"]

# What PowerPoint and python-pptx's template put in an untitled deck's properties.
_DEFAULT_TITLES = frozenset({"PowerPoint Presentation", "Презентация PowerPoint"})


def parse_pptx(data: bytes, file_name: str) -> ParsedDocument:
    open_zip(data, "pptx").close()
    presentation = pptx.Presentation(io.BytesIO(data))
    sections: list[Section] = []
    slide_count = 0
    for number, slide in enumerate(presentation.slides, start=1):
        slide_count = number
        title_shape = slide.shapes.title
        title = clean_title(title_shape.text_frame.text) if title_shape is not None else None
        blocks = [f"# {title}"] if title else []
        blocks += _shape_blocks(slide.shapes, skip=title_shape)
        if slide.has_notes_slide:
            notes = slide.notes_slide.notes_text_frame
            if notes is not None and notes.text.strip():
                blocks.append("Notes: " + notes.text.strip())
        text = normalise("\n\n".join(blocks))
        if text:
            sections.append(Section(text=text, page=number, heading=title))
    core_title = clean_title(presentation.core_properties.title)
    if core_title in _DEFAULT_TITLES:
        core_title = None
    first_slide_title = next((section.heading for section in sections if section.heading), None)
    return ParsedDocument(
        title=core_title or first_slide_title or stem(file_name),
        file_name=file_name,
        kind="pptx",
        pages=slide_count,
        sections=sections,
    )


def _reading_order(shapes: Iterable[BaseShape]) -> list[BaseShape]:
    # Top to bottom, then left to right: the order people read a slide in.
    return sorted(shapes, key=lambda shape: (shape.top or 0, shape.left or 0))


def _shape_blocks(shapes: Iterable[BaseShape], skip: BaseShape | None) -> Iterator[str]:
    for shape in _reading_order(shapes):
        if skip is not None and shape.shape_id == skip.shape_id:
            continue
        if isinstance(shape, GroupShape) or shape.shape_type == MSO_SHAPE_TYPE.GROUP:
            yield from _shape_blocks(shape.shapes, skip=None)  # type: ignore[attr-defined]
        elif isinstance(shape, GraphicFrame) and shape.has_table:
            rows = [[cell.text for cell in row.cells] for row in shape.table.rows]
            if rows and any(any(cell.strip() for cell in row) for row in rows):
                yield markdown_table(rows)
        elif shape.has_text_frame:
            text = _text_frame(shape.text_frame)  # type: ignore[attr-defined]
            if text:
                yield text


def _text_frame(frame: TextFrame) -> str:
    lines = []
    for paragraph in frame.paragraphs:
        text = " ".join(paragraph.text.split())
        if not text:
            continue
        # Body placeholders are bulleted by the layout; level 0 too. Indent deeper levels.
        lines.append("  " * paragraph.level + "- " + text if paragraph.level or _bulleted(frame) else text)
    return "\n".join(lines)


def _bulleted(frame: TextFrame) -> bool:
    return sum(1 for paragraph in frame.paragraphs if paragraph.text.strip()) > 1
