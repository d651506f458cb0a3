"""DOCX: the body through mammoth (Word headings become Markdown headings), plus every other
container of text Word has, each as its own section: headers, footers, footnotes, endnotes, comments.

Mammoth reads a text box only in its VML form (``v:textbox``, what Word writes as the fallback
of ``mc:AlternateContent``) and skips DrawingML text boxes (``wps:txbx``), charts and SmartArt.
Before mammoth runs, each ``mc:AlternateContent`` is reduced to one branch (so no box is read
twice) and every DrawingML box, chart title and SmartArt text is rewritten as a VML text box,
which mammoth then places after the paragraph the shape is anchored to.
"""

from __future__ import annotations

import io
import zipfile
from collections import Counter
from collections.abc import Iterable, Iterator

from lxml import etree
from markitdown import StreamInfo
from markitdown.converters import DocxConverter

from bot.ingest.document import (
    ParsedDocument,
    Section,
    WarningKind,
    clean_markdown,
    clean_title,
    count_warnings,
    markdown_sections,
    stem,
)
from bot.ingest.formats.ooxml import (
    NS,
    chart_title,
    diagram_texts,
    part_relationships,
    read_part,
)
from bot.ingest.formats.zipguard import open_zip, read_member
from bot.rag.language import detect_language

__all__ = ["parse_docx"]

_BODY = "word/document.xml"
_RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_CORE_NS = {"dc": "http://purl.org/dc/elements/1.1/"}
# The labels of the extra sections, in the document's own language (they become heading paths).
_LABELS = {
    "ru": {
        "header": "Верхний колонтитул",
        "footer": "Нижний колонтитул",
        "footnotes": "Сноски",
        "endnotes": "Концевые сноски",
        "comments": "Примечания",
    },
    "en": {
        "header": "Header",
        "footer": "Footer",
        "footnotes": "Footnotes",
        "endnotes": "Endnotes",
        "comments": "Comments",
    },
}


def _q(name: str) -> str:
    prefix, local = name.split(":")
    return f"{{{NS[prefix]}}}{local}"


def parse_docx(data: bytes, file_name: str) -> ParsedDocument:
    """The body's sections, then one section per kind of extra container (header, footer, footnotes,
    endnotes, comments); pictures and OLE objects counted in ``warnings``. Raises DocumentError
    subclasses (via the zip guard) and lxml/mammoth errors on broken files (parse_document wraps them)."""
    with open_zip(data, "docx") as archive:
        title = _core_title(archive)
        counts: Counter[WarningKind] = Counter()
        body = read_part(archive, _BODY)
        rewritten = data
        if body is not None:
            _prepare_for_mammoth(archive, body)
            _count_unreadable(archive, _BODY, body, counts)
            rewritten = _replace_member(
                archive, _BODY, etree.tostring(body, xml_declaration=True, encoding="UTF-8", standalone=True)
            )
        extra = list(_other_containers(archive, counts))
    converter = DocxConverter()  # type: ignore[no-untyped-call]  # markitdown leaves __init__ unannotated
    result = converter.convert(
        io.BytesIO(rewritten), StreamInfo(extension=".docx"), escape_asterisks=False, escape_underscores=False
    )
    sections, first_h1 = markdown_sections(clean_markdown(result.markdown))
    labels = _LABELS[detect_language("\n".join(section.text for section in sections))]
    sections += [Section(text=text, page=None, heading=labels[kind]) for kind, text in _merge_by_kind(extra)]
    return ParsedDocument(
        title=clean_title(title) or first_h1 or stem(file_name),
        file_name=file_name,
        kind="docx",
        pages=None,
        sections=sections,
        warnings=count_warnings(counts),
    )


def _core_title(archive: zipfile.ZipFile) -> str | None:
    root = read_part(archive, "docProps/core.xml")
    element = root.find("dc:title", _CORE_NS) if root is not None else None
    return None if element is None else element.text


# --- the body, made readable for mammoth ---------------------------------------------


def _prepare_for_mammoth(archive: zipfile.ZipFile, root: etree._Element) -> None:
    _resolve_alternate_content(root)
    relationships = part_relationships(archive, _BODY)
    for drawing in list(root.iter(_q("w:drawing"))):
        boxes = [_box_from_lines(lines) for lines in _drawing_texts(archive, drawing, relationships)]
        if boxes:
            _replace(drawing, _vml_text_boxes(boxes))
    # Notes and comments become their own sections; mammoth would append the notes to the body.
    for tag in ("w:footnoteReference", "w:endnoteReference", "w:commentReference"):
        for reference in list(root.iter(_q(tag))):
            _remove(reference)


def _resolve_alternate_content(root: etree._Element) -> None:
    """Keep one branch of each mc:AlternateContent: a DrawingML text box if the Choice has one
    (it is rewritten for mammoth below), else the Fallback that mammoth reads today."""
    for alternate in list(root.iter(_q("mc:AlternateContent"))):
        if alternate.getparent() is None:
            continue  # inside a branch already dropped
        choice = next(
            (c for c in alternate.iterfind("mc:Choice", NS) if _has_drawing_text(c)),
            None,
        )
        keep = choice if choice is not None else alternate.find("mc:Fallback", NS)
        _splice(alternate, list(keep) if keep is not None else [])


def _has_drawing_text(element: etree._Element) -> bool:
    return any(True for _ in element.iter(_q("wps:txbx"), _q("c:chart"), _q("dgm:relIds")))


def _drawing_texts(
    archive: zipfile.ZipFile, drawing: etree._Element, relationships: dict[str, tuple[str, str]]
) -> Iterator[list[etree._Element | str]]:
    """Each text box (its paragraphs), chart title or SmartArt (its lines) inside one w:drawing."""
    for element in drawing.iter(_q("wps:txbx"), _q("c:chart"), _q("dgm:relIds")):
        if element.tag == _q("wps:txbx"):
            content = element.find("w:txbxContent", NS)
            if content is not None:
                yield list(content)
            continue
        rel_id = element.get(f"{{{_RELS}}}id" if element.tag == _q("c:chart") else f"{{{_RELS}}}dm")
        target = relationships.get(rel_id or "")
        if target is None:
            continue
        if element.tag == _q("c:chart"):
            title = chart_title(archive, target[1])
            if title:
                yield [title]
        else:
            data = read_part(archive, target[1])
            lines: list[etree._Element | str] = list(diagram_texts(data)) if data is not None else []
            if lines:
                yield lines


def _box_from_lines(lines: list[etree._Element | str]) -> etree._Element:
    content = etree.Element(_q("w:txbxContent"), nsmap={"w": NS["w"]})
    for line in lines:
        if isinstance(line, str):
            paragraph = etree.SubElement(content, _q("w:p"))
            text = etree.SubElement(etree.SubElement(paragraph, _q("w:r")), _q("w:t"))
            text.text = line
        else:
            content.append(line)
    return content


def _vml_text_boxes(boxes: list[etree._Element]) -> etree._Element:
    pict = etree.Element(_q("w:pict"), nsmap={"w": NS["w"], "v": NS["v"]})
    for box in boxes:
        textbox = etree.SubElement(etree.SubElement(pict, _q("v:shape")), _q("v:textbox"))
        textbox.append(box)
    return pict


def _replace(old: etree._Element, new: etree._Element) -> None:
    parent = old.getparent()
    if parent is not None:
        new.tail = old.tail
        parent.replace(old, new)


def _splice(old: etree._Element, children: list[etree._Element]) -> None:
    parent = old.getparent()
    if parent is None:
        return
    index = parent.index(old)
    parent.remove(old)
    for offset, child in enumerate(children):
        parent.insert(index + offset, child)


def _remove(element: etree._Element) -> None:
    parent = element.getparent()
    if parent is not None:
        parent.remove(element)


def _replace_member(archive: zipfile.ZipFile, name: str, content: bytes) -> bytes:
    # Stored, not deflated: the copy is only read once, by mammoth, in memory.
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as copy:
        for member in archive.infolist():
            copy.writestr(
                member.filename, content if member.filename == name else read_member(archive, member.filename)
            )
    return buffer.getvalue()


# --- what cannot be read -----------------------------------------------------------


def _count_unreadable(
    archive: zipfile.ZipFile, part: str, root: etree._Element, counts: Counter[WarningKind]
) -> None:
    """Pictures (DrawingML or VML, not an OLE object's preview) and OLE objects in one part."""
    objects = {element.get(f"{{{_RELS}}}id") for element in root.iter(_q("o:OLEObject"))}
    previews = {
        element.get(f"{{{_RELS}}}id")
        for ole in root.iter(_q("w:object"))
        for element in ole.iter(_q("v:imagedata"))
    }
    pictures = {element.get(f"{{{_RELS}}}embed") for element in root.iter(_q("a:blip"))}
    pictures |= {element.get(f"{{{_RELS}}}id") for element in root.iter(_q("v:imagedata"))} - previews
    relationships = part_relationships(archive, part)
    counts["embedded_object"] += len({relationships[i][1] for i in objects if i in relationships})
    counts["image_without_text"] += len({relationships[i][1] for i in pictures if i in relationships})


# --- headers, footers, notes, comments ----------------------------------------------

_EXTRA_PARTS = {
    f"{_RELS}/header": "header",
    f"{_RELS}/footer": "footer",
    f"{_RELS}/footnotes": "footnotes",
    f"{_RELS}/endnotes": "endnotes",
    f"{_RELS}/comments": "comments",
}


def _other_containers(archive: zipfile.ZipFile, counts: Counter[WarningKind]) -> Iterator[tuple[str, str]]:
    """(kind, text) of each header, footer, note list and comment list the body links to."""
    seen: set[str] = set()
    for rel_type, target in part_relationships(archive, _BODY).values():
        kind = _EXTRA_PARTS.get(rel_type)
        if kind is None or target in seen:
            continue
        seen.add(target)
        root = read_part(archive, target)
        if root is None:
            continue
        _resolve_alternate_content(root)
        if kind in {"header", "footer"}:
            _count_unreadable(archive, target, root, counts)
            text = "\n".join(_paragraph_lines(root))
        elif kind == "comments":
            text = "\n".join(_comments(root))
        else:
            text = "\n".join(_notes(root, kind[:-1]))
        if text.strip():
            yield kind, text


def _merge_by_kind(parts: Iterable[tuple[str, str]]) -> Iterator[tuple[str, str]]:
    # Word keeps first-page, even and default headers apart; they often say the same thing.
    texts: dict[str, list[str]] = {}
    for kind, text in parts:
        if text not in texts.setdefault(kind, []):
            texts[kind].append(text)
    for kind in _LABELS["en"]:
        if kind in texts:
            yield kind, "\n".join(texts[kind])


def _notes(root: etree._Element, tag: str) -> Iterator[str]:
    number = 0
    for note in root.iterfind(f"w:{tag}", NS):
        if note.get(_q("w:type")) in {"separator", "continuationSeparator", "continuationNotice"}:
            continue
        text = " ".join(_paragraph_lines(note))
        if text:
            number += 1
            yield f"{number}. {text}"


def _comments(root: etree._Element) -> Iterator[str]:
    for comment in root.iterfind("w:comment", NS):
        text = " ".join(_paragraph_lines(comment))
        if text:
            author = (comment.get(_q("w:author")) or "").strip()
            yield f"{author}: {text}" if author else text


def _paragraph_lines(root: etree._Element) -> Iterator[str]:
    """Each paragraph's text, text boxes' paragraphs as lines of their own (never twice)."""
    for paragraph in root.iter(_q("w:p")):
        text = "".join(_run_text(paragraph))
        text = "\n".join(" ".join(line.split()) for line in text.split("\n"))
        if text.strip():
            yield text.strip()


def _run_text(element: etree._Element) -> Iterator[str]:
    for child in element:
        tag = child.tag
        if tag == _q("w:t"):
            yield child.text or ""
        elif tag == _q("w:tab"):
            yield " "
        elif tag in {_q("w:br"), _q("w:cr")}:
            yield "\n"
        elif tag == _q("w:noBreakHyphen"):
            yield "-"
        elif tag in {_q("w:txbxContent"), _q("w:p"), _q("w:delText"), _q("w:instrText")}:
            continue  # a text box's own paragraphs are read on their own; deleted text is gone
        elif isinstance(tag, str):
            yield from _run_text(child)
