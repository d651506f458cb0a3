"""An answer as Telegram gets it: rich-message chunks, each with classic HTML and plain-text forms.

Rich chunks are cut at block boundaries above 32,768 characters or 500 blocks (`sendRichMessage`'s
limits, blocks counted as Telegram counts them: nested blocks, list items and table rows too). A list,
quote or table too big for one rich message is first cut between its items or rows
(`bot.render.formats.render_pairs`), so it goes out as several rich messages. Each chunk's classic
form is cut at 4,096 characters (`sendMessage`), never inside a tag or an entity, and its plain form
is the classic form's text with the tags dropped and the entities decoded (so a literal `<tag>` the
model wrote, escaped in the HTML, comes back as written).
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass

from bot.render.document import Block, parse_markdown
from bot.render.formats import render_pairs
from bot.render.links import LinkPolicy
from bot.render.splitting import split_html, units

CLASSIC_LIMIT = 4096
RICH_LIMIT = 32768
RICH_MAX_BLOCKS = 500

# (rich HTML, classic HTML, the blocks Telegram counts in the rich form) of one top-level block.
Piece = tuple[str, str, int]


@dataclass(frozen=True)
class SourceLine:
    """One numbered source: a document title (or its file name), with the pages or sections used."""

    number: int
    title: str
    file_name: str = ""
    pages: tuple[int, ...] = ()
    sections: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.title or self.file_name


@dataclass(frozen=True)
class SourceLabels:
    heading: str  # "Sources" / "Источники"
    page: str  # "p." / "стр."


@dataclass(frozen=True)
class AnswerChunk:
    """One rich message and the same content as classic HTML messages and as plain-text messages."""

    rich: str
    classic: list[str]
    plain: list[str]
    # The numbers of the sources listed at the end of this chunk's rich form, in order; empty when the
    # source list is in another chunk (or there is none). Only then can a mark "[n]" be a reference here.
    sources: tuple[int, ...] = ()


@dataclass(frozen=True)
class RenderedAnswer:
    chunks: list[AnswerChunk]
    degraded: bool = False  # rendering timed out: the text was only escaped

    @property
    def rich(self) -> list[str]:
        return [c.rich for c in self.chunks]

    @property
    def classic(self) -> list[str]:
        return [part for c in self.chunks for part in c.classic]

    @property
    def plain(self) -> list[str]:
        return [part for c in self.chunks for part in c.plain]


_TAG_RE = re.compile(r"<[^<>]*>")
# Our attribute-free tags, dropped by plain replaces when there are many (every `<` starts a tag).
_PLAIN_TAGS = tuple(f"<{end}{name}>" for name in ("b", "i", "s", "u", "code", "p") for end in ("", "/"))
_MANY_TAGS = 64


def html_text(markup: str) -> str:
    """The text a reader sees in our own HTML: tags dropped, entities decoded.

    Our HTML escapes every `<`, `>` and `&` of the text (`html.escape(quote=False)`), so outside
    tags only those three entities occur; C-level replaces are enough (and linear).
    """
    text = markup
    if text.count("<") > _MANY_TAGS:  # e.g. 22,000 `<b>`/`<i>` in 100 KB: C-level replaces first
        for tag in _PLAIN_TAGS:
            text = text.replace(tag, "")
    if "<" in text:
        text = _TAG_RE.sub("", text)
    if "&" not in text:
        return text
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _where(source: SourceLine, labels: SourceLabels) -> str:
    where: list[str] = []
    if source.pages:
        where.append(f"{labels.page} {', '.join(str(p) for p in source.pages)}")
    where.extend(source.sections)
    return "; ".join(where)


def _sources(sources: Sequence[SourceLine], labels: SourceLabels) -> Piece:
    esc = html.escape
    rich_items = []
    classic_lines = [f"<b>{esc(labels.heading)}</b>"]
    for source in sources:
        where = _where(source, labels)
        tail = esc(f" — {where}") if where else ""
        rich_items.append(f"<li><b>{esc(source.name)}</b>{tail}</li>")
        classic_lines.append(f"{source.number}. <b>{esc(source.name)}</b>{tail}")
    rich = f"<h4>{esc(labels.heading)}</h4><ol>{''.join(rich_items)}</ol>"
    # The heading, the list, and per source its item and the paragraph Telegram makes of its text.
    return rich, "\n".join(classic_lines), 2 + 2 * len(sources)


def _chunk(rich: list[str], classic: list[str], sources: tuple[int, ...] = ()) -> AnswerChunk:
    parts = split_html("\n\n".join(classic), CLASSIC_LIMIT)
    return AnswerChunk(
        rich="\n".join(rich), classic=parts, plain=[html_text(p) for p in parts], sources=sources
    )


def render_answer(
    markdown: str,
    sources: Sequence[SourceLine] = (),
    labels: SourceLabels | None = None,
    *,
    policy: LinkPolicy | None = None,
    note: str | None = None,
) -> RenderedAnswer:
    """The model's Markdown (+ a note such as "stopped", + the source list) in every form Telegram takes.

    CPU-bound and linear in the input's size: callers on the event loop run it in a worker thread
    (`bot.cpu.run_cpu_within`). Never raises on any text.
    """
    policy = policy if policy is not None else LinkPolicy()
    blocks: list[Block] = parse_markdown(markdown)
    pieces = render_pairs(blocks, policy, max_blocks=RICH_MAX_BLOCKS, max_units=RICH_LIMIT)
    return RenderedAnswer(chunks=_pack([*pieces, *_tail(note, sources, labels)], _listed(sources, labels)))


def _tail(note: str | None, sources: Sequence[SourceLine], labels: SourceLabels | None) -> list[Piece]:
    """The pieces after the answer's text: the note ("stopped"), then the source list."""
    tail: list[Piece] = []
    if note:
        tail.append((f"<p><i>{html.escape(note)}</i></p>", f"<i>{html.escape(note)}</i>", 1))
    if sources and labels is not None:
        tail.append(_sources(sources, labels))
    return tail


def _listed(sources: Sequence[SourceLine], labels: SourceLabels | None) -> tuple[int, ...]:
    """The numbers of the sources `_tail` lists (its last pair), in order; () when it lists none."""
    return tuple(s.number for s in sources) if labels is not None else ()


def _pack(pieces: list[Piece], listed: tuple[int, ...] = ()) -> list[AnswerChunk]:
    """Top-level pieces into rich messages of at most RICH_LIMIT units and RICH_MAX_BLOCKS blocks, cut only
    between pieces (a single piece over RICH_LIMIT, a giant paragraph or code block, is cut on its own by
    characters; its parts hold no more blocks than it does).

    `listed`: the source numbers when the last pair is the source list; the chunk that holds it gets them.
    """
    chunks: list[AnswerChunk] = []
    rich: list[str] = []
    classic: list[str] = []
    size = count = 0
    for rich_block, classic_block, block_count in pieces:
        if units(rich_block) > RICH_LIMIT:
            # One block too big for a rich message (a giant paragraph or code block): cut it on its own.
            if rich:
                chunks.append(_chunk(rich, classic))
                rich, classic, size, count = [], [], 0, 0
            for piece in split_html(rich_block, RICH_LIMIT):
                chunks.append(_chunk([piece], [html.escape(html_text(piece), quote=False)]))
            continue
        block_size = units(rich_block) + 1
        if rich and (size + block_size > RICH_LIMIT or count + block_count > RICH_MAX_BLOCKS):
            chunks.append(_chunk(rich, classic))
            rich, classic, size, count = [], [], 0, 0
        rich.append(rich_block)
        classic.append(classic_block)
        size += block_size
        count += block_count
    if rich:
        # The last pair is always in this chunk (a source list is never over RICH_LIMIT on its own).
        chunks.append(_chunk(rich, classic, listed))
    return chunks


def escaped_answer(
    markdown: str,
    note: str | None = None,
    sources: Sequence[SourceLine] = (),
    labels: SourceLabels | None = None,
) -> RenderedAnswer:
    """The fallback when rendering did not finish in time: the model's text escaped, nothing parsed, then
    the note and the source list as a full render would show them (they are short and always render)."""
    escaped = html.escape(markdown.strip(), quote=False)
    pieces: list[Piece] = [(f"<p>{escaped}</p>", escaped, 1), *_tail(note, sources, labels)]
    return RenderedAnswer(chunks=_pack(pieces, _listed(sources, labels)), degraded=True)


_DRAFT_POLICY = LinkPolicy(enabled=False)
# A draft is one message: past this many characters it shows the answer's latest part only.
DRAFT_SOURCE_CHARS = 24_000


def draft_html(text: str, rich: bool) -> str:
    """A partial answer (a draft) as one rich (or, with `rich` False, one classic) message's HTML, within
    Telegram's limits (32,768 / 4,096 characters, 500 blocks): the last part of the rendered text.
    Links stay text until the final message checks them. Bounded work: at most DRAFT_SOURCE_CHARS of
    the text (from a paragraph start) are rendered, however long the answer grew."""
    if len(text) > DRAFT_SOURCE_CHARS:
        start = len(text) - DRAFT_SOURCE_CHARS
        # From a paragraph start near the window's beginning, else mid-paragraph.
        paragraph = text.find("\n\n", start, start + 4_000)
        text = text[paragraph + 2 if paragraph != -1 else start :]
    chunks = render_answer(text, policy=_DRAFT_POLICY).chunks
    if not chunks:
        return "…"
    last = chunks[-1]
    return last.rich if rich else (last.classic[-1] if last.classic else "…")
