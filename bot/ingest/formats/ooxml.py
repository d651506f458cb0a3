"""What DOCX, PPTX and XLSX share: namespaces, a safe XML parser, relationships, and the text of
the parts a library skips (charts, SmartArt diagrams).

Office Open XML is ECMA-376; the part and relationship names below are from its Part 1.
"""

from __future__ import annotations

import posixpath
import zipfile
from collections.abc import Iterator

from lxml import etree

from bot.ingest.formats.zipguard import read_member

__all__ = [
    "NS",
    "chart_title",
    "diagram_texts",
    "element_text",
    "parse_xml",
    "part_relationships",
    "read_part",
    "resolve_target",
]

NS = {
    "w": "http://schemas.openxmlformats.org/wordprocessingml/2006/main",
    "wp": "http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing",
    "wps": "http://schemas.microsoft.com/office/word/2010/wordprocessingShape",
    "wpg": "http://schemas.microsoft.com/office/word/2010/wordprocessingGroup",
    "mc": "http://schemas.openxmlformats.org/markup-compatibility/2006",
    "a": "http://schemas.openxmlformats.org/drawingml/2006/main",
    "pic": "http://schemas.openxmlformats.org/drawingml/2006/picture",
    "c": "http://schemas.openxmlformats.org/drawingml/2006/chart",
    "dgm": "http://schemas.openxmlformats.org/drawingml/2006/diagram",
    "v": "urn:schemas-microsoft-com:vml",
    "o": "urn:schemas-microsoft-com:office:office",
    "r": "http://schemas.openxmlformats.org/officeDocument/2006/relationships",
    "rel": "http://schemas.openxmlformats.org/package/2006/relationships",
    "x": "http://schemas.openxmlformats.org/spreadsheetml/2006/main",
    "p": "http://schemas.openxmlformats.org/presentationml/2006/main",
    "xdr": "http://schemas.openxmlformats.org/drawingml/2006/spreadsheetDrawing",
}
_PART_LIMIT = 64 * 1024 * 1024  # one XML part; the zip guard has already bounded the whole package

# No DTDs, no entities, no network: an uploaded file is untrusted (OWASP XXE prevention).
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def parse_xml(data: bytes) -> etree._Element:
    """Parse one XML part; raises lxml's XMLSyntaxError on broken XML."""
    return etree.fromstring(data, parser=_PARSER)


def read_part(archive: zipfile.ZipFile, name: str) -> etree._Element | None:
    """The parsed part, or None when the package lacks it."""
    if name not in archive.namelist():
        return None
    return parse_xml(read_member(archive, name, _PART_LIMIT))


def resolve_target(source_part: str, target: str) -> str:
    """A relationship target (relative to its source part's folder) as a zip member name."""
    if target.startswith("/"):
        return target.lstrip("/")
    return posixpath.normpath(posixpath.join(posixpath.dirname(source_part), target))


def part_relationships(archive: zipfile.ZipFile, part: str) -> dict[str, tuple[str, str]]:
    """{relationship id: (type URI, target member name)} of one part; external targets left out."""
    rels_name = posixpath.join(posixpath.dirname(part), "_rels", posixpath.basename(part) + ".rels")
    root = read_part(archive, rels_name)
    if root is None:
        return {}
    relationships = {}
    for rel in root.iterfind("rel:Relationship", NS):
        if rel.get("TargetMode") == "External":
            continue
        relationships[rel.get("Id", "")] = (rel.get("Type", ""), resolve_target(part, rel.get("Target", "")))
    return relationships


def element_text(element: etree._Element) -> str:
    """The DrawingML text under ``element``: its a:p paragraphs, one line each."""
    lines = []
    for paragraph in element.iter(f"{{{NS['a']}}}p"):
        line = "".join(t.text or "" for t in paragraph.iter(f"{{{NS['a']}}}t"))
        if line.strip():
            lines.append(" ".join(line.split()))
    return "\n".join(lines)


def chart_title(archive: zipfile.ZipFile, chart_part: str) -> str | None:
    """The chart's own title (c:chart/c:title), or None when it has none or only an automatic one."""
    root = read_part(archive, chart_part)
    if root is None:
        return None
    title = root.find("c:chart/c:title", NS)
    return (element_text(title) or None) if title is not None else None


def diagram_texts(root: etree._Element) -> Iterator[str]:
    """The text of each SmartArt node, from the diagram's parsed data part (dgm:dataModel/dgm:ptLst).

    The data part is the diagram's content; its drawing part (dsp:) only repeats it as laid out.
    """
    for point in root.iterfind("dgm:ptLst/dgm:pt", NS):
        body = point.find("dgm:t", NS)
        text = element_text(body) if body is not None else ""
        if text:
            yield text
