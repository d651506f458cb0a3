"""Split a ParsedDocument into retrieval chunks (pure, deterministic).

Sizes are counted in Tekken tokens, the model's tokenizer. Splitting follows the
structure: semantic-text-splitter cuts at headings, then paragraphs, list items,
sentences and words, as coarse as the size allows. Chunks never cross a section
(and so never a page or slide). A table too big for one chunk is cut between
rows, and every piece repeats the header row so its columns still make sense.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache

from semantic_text_splitter import MarkdownSplitter, TextSplitter

from bot.ingest.parsing import ParsedDocument
from bot.ingest.tokens import count_tokens

__all__ = ["DEFAULT_CHUNK_CHARS", "DEFAULT_CHUNK_TOKENS", "ChunkDraft", "split_into_chunks"]


@dataclass(frozen=True)
class ChunkDraft:
    text: str
    page: int | None
    section: str | None


# multilingual-e5-small reads at most 512 XLM-R tokens, and the embedded text is
# "passage: " + "title › section" + the chunk. Measured on this corpus, XLM-R
# needs at most ~1.18 tokens per Tekken token (English prose, code, URLs; Russian
# text, numbers and tables need 0.5-0.8). 384 Tekken tokens are thus <= ~455
# XLM-R tokens, leaving ~50 for the prefix and the heading path. In Russian
# that is ~1,200-1,500 characters; six chunks make ~2,300 prompt tokens.
DEFAULT_CHUNK_TOKENS = 384
# The old character limit, still accepted as an extra cap (see split_into_chunks).
DEFAULT_CHUNK_CHARS = 1500

_MARKDOWN_KINDS = frozenset({"markdown", "html", "docx", "pptx", "xlsx", "epub", "web"})
_HEADING_LINE = re.compile(r"^ {0,3}(?:#{1,6}(?:[ \t].*)?|=+|-+)[ \t]*$")
_TABLE_ROW = re.compile(r"^ {0,3}\|")
_TABLE_DELIMITER = re.compile(r"^ {0,3}\|?(?:\s*:?-+:?\s*\|)+\s*:?-*:?\s*$")

Sizer = Callable[[str], int]


@dataclass(frozen=True)
class _Limits:
    capacity: int  # in the sizer's unit
    max_tokens: int | None
    max_chars: int | None

    def size(self, text: str) -> int:
        """Tokens, or the character count scaled so that max_chars maps to the capacity."""
        by_chars = math.ceil(len(text) * self.capacity / self.max_chars) if self.max_chars else 0
        if self.max_tokens is None:
            return by_chars
        return max(by_chars, count_tokens(text))


@lru_cache(maxsize=16)
def _splitter(limits: _Limits, markdown: bool) -> MarkdownSplitter | TextSplitter:
    # Filling to at least 2/3 of the limit avoids many tiny chunks; a ~10%
    # overlap keeps a sentence cut at a boundary findable from both sides.
    capacity = (max(1, limits.capacity * 2 // 3), limits.capacity)
    overlap = limits.capacity // 10
    if limits.max_tokens is None:  # characters only: the splitter counts them natively, fastest
        if markdown:
            return MarkdownSplitter(capacity, overlap=overlap)
        return TextSplitter(capacity, overlap=overlap)
    if markdown:
        return MarkdownSplitter.from_callback(limits.size, capacity, overlap=overlap)
    return TextSplitter.from_callback(limits.size, capacity, overlap=overlap)


def split_into_chunks(
    doc: ParsedDocument,
    max_chars: int | None = None,
    *,
    max_tokens: int | None = DEFAULT_CHUNK_TOKENS,
) -> list[ChunkDraft]:
    """Chunk each section separately so no chunk spans two pages or sections.

    ``max_tokens`` bounds every chunk in Tekken tokens. ``max_chars`` (the old,
    positional parameter) is an additional cap in characters when given; with
    ``max_tokens=None`` it is the only limit.
    """
    if max_chars is not None and max_chars < 1:
        raise ValueError("max_chars must be positive")
    if max_tokens is not None and max_tokens < 1:
        raise ValueError("max_tokens must be positive")
    if max_tokens is None and max_chars is None:
        raise ValueError("give max_tokens, max_chars or both")
    limits = _Limits(capacity=max_tokens or max_chars or 0, max_tokens=max_tokens, max_chars=max_chars)
    markdown = doc.kind in _MARKDOWN_KINDS
    splitter = _splitter(limits, markdown)
    chunks = [
        ChunkDraft(text=text, page=section.page, section=section.heading)
        for section in doc.sections
        for text in _section_chunks(section.text, splitter, limits, markdown)
        if text.strip()
    ]
    # A section holding only its heading (e.g. "# Guide" right before "## Setup")
    # would become a content-free chunk; its words already live in the
    # section path of the chunks below it.
    if not markdown:
        return chunks
    with_content = [chunk for chunk in chunks if not _is_heading_only(chunk.text)]
    return with_content or chunks


def _is_heading_only(text: str) -> bool:
    return all(_HEADING_LINE.match(line) for line in text.splitlines() if line.strip())


# semantic-text-splitter is quadratic on one very long line (0.6 s for 300 kB,
# 9 s for 1.2 MB): we cut such text into runs first, at the coarsest boundary
# available (blank line, line break, sentence end, space), which keeps it linear.
_MAX_RUN_CHARS = 20_000
_RUN_BREAKS = ("\n\n", "\n", ". ", " ")


def _runs(text: str) -> Iterator[str]:
    start = 0
    while len(text) - start > _MAX_RUN_CHARS:
        end = start + _MAX_RUN_CHARS
        cut = end
        for mark in _RUN_BREAKS:
            at = text.rfind(mark, start + _MAX_RUN_CHARS // 2, end)
            if at >= 0:
                cut = at + len(mark)
                break
        yield text[start:cut]
        start = cut
    yield text[start:]


def _split(
    text: str, splitter: MarkdownSplitter | TextSplitter, limits: _Limits, markdown: bool
) -> Iterator[str]:
    # Exact packing calls the tokenizer 10-25 times per chunk (~0.2 ms each): ~1.6 s per MB.
    for run in _runs(text):
        yield from splitter.chunks(run)


def _section_chunks(
    text: str, splitter: MarkdownSplitter | TextSplitter, limits: _Limits, markdown: bool
) -> Iterator[str]:
    if not markdown or "|" not in text:
        yield from _split(text, splitter, limits, markdown)
        return
    # Text and tables that fit go to the splitter together; only an oversized
    # table is cut by rows here, since the splitter would drop its header.
    flow: list[str] = []
    for block, is_table in _blocks(text):
        if is_table and limits.size(block) > limits.capacity:
            yield from _split("\n".join(flow), splitter, limits, markdown)
            flow = []
            yield from _table_chunks(block, splitter, limits)
        else:
            flow.append(block)
    yield from _split("\n".join(flow), splitter, limits, markdown)


def _blocks(text: str) -> Iterator[tuple[str, bool]]:
    """The text as (block, is_table) runs; a table is a row, a delimiter row, then rows."""
    lines = text.split("\n")
    start = index = 0
    while index < len(lines):
        if (
            _TABLE_ROW.match(lines[index])
            and index + 1 < len(lines)
            and _TABLE_DELIMITER.match(lines[index + 1])
        ):
            end = index + 2
            while end < len(lines) and _TABLE_ROW.match(lines[end]):
                end += 1
            if index > start:
                yield "\n".join(lines[start:index]), False
            yield "\n".join(lines[index:end]), True
            start = index = end
        else:
            index += 1
    if start < len(lines):
        yield "\n".join(lines[start:]), False


def _table_chunks(table: str, splitter: MarkdownSplitter | TextSplitter, limits: _Limits) -> Iterator[str]:
    lines = table.split("\n")
    header = "\n".join(lines[:2])
    header_size = limits.size(header + "\n")
    if header_size > limits.capacity // 2:  # a header that eats the chunk is not worth repeating
        yield from splitter.chunks(table)
        return
    rows: list[str] = []
    size = header_size

    def flush() -> Iterator[str]:
        chunk = "\n".join([header, *rows])
        # Row sizes add up to the chunk's only nearly (BPE may merge across a
        # line break); the rare chunk that ends up over the limit is re-cut.
        yield from [chunk] if limits.size(chunk) <= limits.capacity else splitter.chunks(chunk)

    for row in lines[2:]:
        row_size = limits.size(row + "\n")
        if rows and size + row_size > limits.capacity:
            yield from flush()
            rows, size = [], header_size
        if header_size + row_size > limits.capacity:  # one huge row: cut it like prose
            yield from splitter.chunks(row)
            continue
        rows.append(row)
        size += row_size
    if rows:
        yield from flush()
