"""Web pages: the main content of fetched HTML, without navigation, footers, ads or scripts.

trafilatura finds the article body (with its own fallbacks, readability and
jusText) and writes it as Markdown with headings, lists and tables.
"""

from __future__ import annotations

from email.message import Message
from pathlib import PurePosixPath
from urllib.parse import unquote, urlsplit

import trafilatura
from bs4.dammit import EncodingDetector

from bot.ingest.document import (
    DocumentError,
    EmptyDocumentError,
    ParsedDocument,
    UnsupportedFormatError,
    clean_title,
    decode_text,
    from_markdown,
)

__all__ = ["parse_web_page"]

_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_MAX_HTML_BYTES = 20 * 1024 * 1024  # bigger "pages" are data dumps, not articles


def parse_web_page(html_bytes: bytes, url: str, content_type: str | None = None) -> ParsedDocument:
    """The readable content of a fetched page; ``content_type`` is the HTTP header, if any.

    Raises DocumentError subclasses only. A URL serving a PDF, DOCX, ... is not
    handled here: pass such a response to ``parse_document`` with a file name.
    """
    mime, charset = _content_type(content_type)
    if mime is not None and mime not in _HTML_TYPES:
        raise UnsupportedFormatError(f"the URL serves {mime}, not a web page")
    if not html_bytes.strip():
        raise EmptyDocumentError("web page is empty")
    if len(html_bytes) > _MAX_HTML_BYTES:
        raise UnsupportedFormatError(f"web page is over {_MAX_HTML_BYTES // 2**20} MB")
    declared = charset or EncodingDetector.find_declared_encoding(html_bytes, is_html=True)
    html = decode_text(html_bytes, declared)
    try:
        markdown = _extract(html, url, favor_recall=False) or _extract(html, url, favor_recall=True)
        metadata = trafilatura.extract_metadata(html, default_url=url)
    except DocumentError:
        raise
    except Exception as exc:  # lxml or trafilatura choking on the markup
        raise EmptyDocumentError(f"cannot read the web page: {type(exc).__name__}") from exc
    if not markdown:
        raise EmptyDocumentError("no readable text on the web page")
    title = clean_title(metadata.title) if metadata is not None else None
    doc = from_markdown(markdown, url, "web", title or _url_title(url))
    if not any(section.text.strip() for section in doc.sections):
        raise EmptyDocumentError("no readable text on the web page")
    return doc


def _extract(html: str, url: str, *, favor_recall: bool) -> str | None:
    return trafilatura.extract(
        html,
        url=url,
        output_format="markdown",
        favor_recall=favor_recall,
        include_comments=False,  # reader comments are not the knowledge base
        include_tables=True,
        include_formatting=True,
        include_links=False,  # link targets would only add URL tokens to every chunk
        include_images=False,
        deduplicate=False,
    )


def _content_type(header: str | None) -> tuple[str | None, str | None]:
    if not header:
        return None, None
    message = Message()
    message["content-type"] = header
    charset = message.get_param("charset")
    return message.get_content_type(), charset if isinstance(charset, str) else None


def _url_title(url: str) -> str:
    parts = urlsplit(url)
    name = PurePosixPath(unquote(parts.path)).stem
    return name or parts.netloc or url
