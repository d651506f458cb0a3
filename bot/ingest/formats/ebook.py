"""EPUB: chapters in reading (spine) order; each chapter's title from the table of contents.

Read with zipfile + ElementTree rather than markitdown's converter, which joins
all chapters into one text (a chapter without its own heading would then fall
under the previous chapter's) and prepends a metadata block. ebooklib is AGPL.
"""

from __future__ import annotations

import posixpath
import xml.etree.ElementTree as ET
import zipfile
from urllib.parse import unquote, urldefrag

from bs4.dammit import EncodingDetector
from markitdown.converters import HtmlConverter

from bot.ingest.document import (
    CorruptDocumentError,
    ParsedDocument,
    Section,
    clean_markdown,
    clean_title,
    decode_text,
    markdown_sections,
    stem,
)
from bot.ingest.formats.zipguard import open_zip, read_member

__all__ = ["parse_epub"]

_NS = {
    "container": "urn:oasis:names:tc:opendocument:xmlns:container",
    "opf": "http://www.idpf.org/2007/opf",
    "dc": "http://purl.org/dc/elements/1.1/",
    "ncx": "http://www.daisy.org/z3986/2005/ncx/",
    "xhtml": "http://www.w3.org/1999/xhtml",
    "epub": "http://www.idpf.org/2007/ops",
}
_XML_LIMIT = 16 * 1024 * 1024  # per XML file we parse ourselves; chapters are far smaller


def parse_epub(data: bytes, file_name: str) -> ParsedDocument:
    with open_zip(data, "epub") as archive:
        # Plain ElementTree is safe: expat >= 2.4 caps entity expansion (billion laughs).
        container = _xml(archive, "META-INF/container.xml")
        rootfile = container.find(".//container:rootfile", _NS)
        opf_path = rootfile.get("full-path") if rootfile is not None else None
        if not opf_path:
            raise CorruptDocumentError("EPUB has no package document")
        opf = _xml(archive, opf_path)
        base = posixpath.dirname(opf_path)
        manifest = {
            item.get("id", ""): item
            for item in opf.iterfind("opf:manifest/opf:item", _NS)
            if item.get("href")
        }
        toc = _toc_titles(archive, opf, manifest, base)
        sections: list[Section] = []
        converter = HtmlConverter()
        for itemref in opf.iterfind("opf:spine/opf:itemref", _NS):
            item = manifest.get(itemref.get("idref", ""))
            if item is None or "nav" in item.get("properties", "").split():
                continue  # the navigation document only repeats the chapter titles
            path = _resolve(base, item.get("href", ""))
            if path not in archive.namelist():
                continue
            raw = read_member(archive, path, _XML_LIMIT)
            html = decode_text(raw, EncodingDetector.find_declared_encoding(raw, is_html=True))
            result = converter.convert_string(html, escape_asterisks=False, escape_underscores=False)
            chapter_sections, _ = markdown_sections(
                clean_markdown(result.markdown), root=toc.get(path) or None
            )
            sections += chapter_sections
        title_element = opf.find("opf:metadata/dc:title", _NS)
        title = clean_title(title_element.text if title_element is not None else None)
    return ParsedDocument(
        title=title or stem(file_name),
        file_name=file_name,
        kind="epub",
        pages=None,
        sections=sections,
    )


def _xml(archive: zipfile.ZipFile, path: str) -> ET.Element:
    if path not in archive.namelist():
        raise CorruptDocumentError(f"EPUB lacks {path}")
    return ET.fromstring(read_member(archive, path, _XML_LIMIT))


def _resolve(base: str, href: str) -> str:
    return posixpath.normpath(posixpath.join(base, unquote(urldefrag(href).url)))


def _toc_titles(
    archive: zipfile.ZipFile, opf: ET.Element, manifest: dict[str, ET.Element], base: str
) -> dict[str, str]:
    """{chapter path: its title} from the EPUB 3 nav document, else the EPUB 2 NCX."""
    titles: dict[str, str] = {}
    nav = next((i for i in manifest.values() if "nav" in i.get("properties", "").split()), None)
    if nav is not None:
        nav_path = _resolve(base, nav.get("href", ""))
        root = _xml(archive, nav_path)
        for link in root.iterfind(".//xhtml:nav//xhtml:a", _NS):
            _add_title(titles, _resolve(posixpath.dirname(nav_path), link.get("href", "")), link)
        if titles:
            return titles
    spine = opf.find("opf:spine", _NS)
    ncx = manifest.get(spine.get("toc", "")) if spine is not None else None
    if ncx is None:
        ncx = next((i for i in manifest.values() if i.get("media-type") == "application/x-dtbncx+xml"), None)
    if ncx is not None:
        ncx_path = _resolve(base, ncx.get("href", ""))
        root = _xml(archive, ncx_path)
        for point in root.iterfind(".//ncx:navPoint", _NS):
            label = point.find("ncx:navLabel/ncx:text", _NS)
            content = point.find("ncx:content", _NS)
            if label is not None and content is not None:
                _add_title(titles, _resolve(posixpath.dirname(ncx_path), content.get("src", "")), label)
    return titles


def _add_title(titles: dict[str, str], path: str, element: ET.Element) -> None:
    # The first entry pointing into a file names it; later ones are its subsections.
    title = clean_title("".join(element.itertext()))
    if title and path not in titles:
        titles[path] = title
