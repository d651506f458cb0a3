"""Split a ParsedDocument into retrieval chunks (pure, deterministic)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from semantic_text_splitter import MarkdownSplitter, TextSplitter

from bot.ingest.parsing import ParsedDocument

__all__ = ["DEFAULT_CHUNK_CHARS", "ChunkDraft", "split_into_chunks"]


@dataclass(frozen=True)
class ChunkDraft:
    text: str
    page: int | None
    section: str | None


# multilingual-e5-small reads at most 512 XLM-R tokens, i.e. roughly
# 1,500-2,000 Russian characters: a longer chunk would be embedded only in
# part. Six such chunks also stay well under the ~4,000 characters per
# document that Vikhr-Nemo's grounded prompt gets.
DEFAULT_CHUNK_CHARS = 1500

_MARKDOWN_KINDS = frozenset({"markdown", "html", "docx"})
_HEADING_LINE = re.compile(r"^ {0,3}(?:#{1,6}(?:[ \t].*)?|=+|-+)[ \t]*$")


@lru_cache(maxsize=16)
def _splitter(max_chars: int, markdown: bool) -> MarkdownSplitter | TextSplitter:
    # Filling to at least 2/3 of the limit avoids many tiny chunks; a ~10%
    # overlap keeps a sentence cut at a boundary findable from both sides.
    capacity = (max(1, max_chars * 2 // 3), max_chars)
    overlap = max_chars // 10
    if markdown:
        return MarkdownSplitter(capacity, overlap=overlap)
    return TextSplitter(capacity, overlap=overlap)


def _is_heading_only(text: str) -> bool:
    return all(_HEADING_LINE.match(line) for line in text.splitlines() if line.strip())


def split_into_chunks(doc: ParsedDocument, max_chars: int = DEFAULT_CHUNK_CHARS) -> list[ChunkDraft]:
    """Chunk each section separately so no chunk spans two pages or sections."""
    if max_chars < 1:
        raise ValueError("max_chars must be positive")
    markdown = doc.kind in _MARKDOWN_KINDS
    splitter = _splitter(max_chars, markdown)
    chunks = [
        ChunkDraft(text=text, page=section.page, section=section.heading)
        for section in doc.sections
        for text in splitter.chunks(section.text)
        if text.strip()
    ]
    # A section holding only its heading (e.g. "# Guide" right before "## Setup")
    # would become a content-free chunk; its words already live in the
    # section path of the chunks below it.
    if not markdown:
        return chunks
    with_content = [chunk for chunk in chunks if not _is_heading_only(chunk.text)]
    return with_content or chunks
