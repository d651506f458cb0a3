"""PPTX: one section per slide, page = slide number, heading = the slide's title.

python-pptx directly rather than markitdown's converter: it keeps bullet levels
as Markdown lists and skips picture placeholders ("![Picture 3](Picture3.jpg)")
that would only add noise to what we embed.

Every container of text a slide has is read (issue 11): text frames, tables and grouped
shapes at any depth, chart titles, SmartArt (from the diagram's data part, which python-pptx
does not read) and the speaker notes. Pictures and embedded OLE objects are counted.
"""

from __future__ import annotations

import io
from collections import Counter
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
    WarningKind,
    clean_title,
    count_warnings,
    markdown_table,
    normalise,
    stem,
)
from bot.ingest.formats.ooxml import NS, diagram_texts, parse_xml
from bot.ingest.formats.zipguard import open_zip

__all__ = ["parse_pptx"]

# What PowerPoint and python-pptx's template put in an untitled deck's properties.
_DEFAULT_TITLES = frozenset({"PowerPoint Presentation", "Презентация PowerPoint"})


_DIAGRAM_URI = "http://schemas.openxmlformats.org/drawingml/2006/diagram"
_RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


def parse_pptx(data: bytes, file_name: str) -> ParsedDocument:
    open_zip(data, "pptx").close()
    presentation = pptx.Presentation(io.BytesIO(data))
    sections: list[Section] = []
    counts: Counter[WarningKind] = Counter()
    slide_count = 0
    for number, slide in enumerate(presentation.slides, start=1):
        slide_count = number
        title_shape = slide.shapes.title
        title = clean_title(title_shape.text_frame.text) if title_shape is not None else None
        blocks = [f"# {title}"] if title else []
        blocks += _shape_blocks(slide.shapes, skip=title_shape, counts=counts)
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
        warnings=count_warnings(counts),
    )


def _reading_order(shapes: Iterable[BaseShape]) -> list[BaseShape]:
    # Top to bottom, then left to right: the order people read a slide in.
    return sorted(shapes, key=lambda shape: (shape.top or 0, shape.left or 0))


def _shape_blocks(
    shapes: Iterable[BaseShape], skip: BaseShape | None, counts: Counter[WarningKind]
) -> Iterator[str]:
    for shape in _reading_order(shapes):
        if skip is not None and shape.shape_id == skip.shape_id:
            continue
        if isinstance(shape, GroupShape) or shape.shape_type == MSO_SHAPE_TYPE.GROUP:
            yield from _shape_blocks(shape.shapes, skip=None, counts=counts)  # type: ignore[attr-defined]
        elif isinstance(shape, GraphicFrame) and shape.has_table:
            rows = [[cell.text for cell in row.cells] for row in shape.table.rows]
            if rows and any(any(cell.strip() for cell in row) for row in rows):
                yield markdown_table(rows)
        elif isinstance(shape, GraphicFrame) and shape.has_chart:
            chart = shape.chart
            if chart.has_title and chart.chart_title.has_text_frame:
                title = " ".join(chart.chart_title.text_frame.text.split())
                if title:
                    yield title
        elif isinstance(shape, GraphicFrame) and _is_diagram(shape):
            text = _diagram_text(shape)
            if text:
                yield text
        elif shape.shape_type in {MSO_SHAPE_TYPE.EMBEDDED_OLE_OBJECT, MSO_SHAPE_TYPE.LINKED_OLE_OBJECT}:
            counts["embedded_object"] += 1
        elif shape.shape_type == MSO_SHAPE_TYPE.PICTURE or _is_picture_placeholder(shape):
            counts["image_without_text"] += 1
        elif shape.has_text_frame:
            text = _text_frame(shape.text_frame)  # type: ignore[attr-defined]
            if text:
                yield text


def _is_picture_placeholder(shape: BaseShape) -> bool:
    # A picture placeholder filled with an image is a p:pic; python-pptx calls it a PLACEHOLDER.
    return shape.is_placeholder and shape.element.tag == f"{{{NS['p']}}}pic"


def _is_diagram(shape: GraphicFrame) -> bool:
    return bool(shape._graphicFrame.graphicData_uri == _DIAGRAM_URI)


def _diagram_text(shape: GraphicFrame) -> str:
    """SmartArt: the nodes' text from the data part its dgm:relIds points to (r:dm)."""
    rel_ids = shape._element.find(f".//{{{NS['dgm']}}}relIds")
    rel_id = rel_ids.get(f"{{{_RELS}}}dm") if rel_ids is not None else None
    if not rel_id or rel_id not in shape.part.rels:
        return ""
    lines = diagram_texts(parse_xml(shape.part.related_part(rel_id).blob))
    return "\n".join(f"- {line}" for line in lines)


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
