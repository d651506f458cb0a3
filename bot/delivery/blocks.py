"""Our rich-message HTML → Bot API rich blocks, so reference marks can be native references.

Bot API 10.1 has footnote-style references inside one rich message (`RichTextReferenceLink` points at a
`RichTextReference` by name), but no HTML or Markdown syntax for them: they exist only in
`InputRichMessage.blocks` (https://core.telegram.org/bots/api#inputrichmessage). This module reads the
HTML that `bot.render.formats` and `bot.render.answer` write for rich messages (a small known tag set:
p, br, b, i, s, u, code, a href, h1-h6, pre, blockquote, ul, ol start, li, table, tr, th, td, hr) with
the standard library's `html.parser`, one pass, and builds the same content as typed blocks:

- a mark "[n]" the attribution put at the end of a paragraph becomes a `RichTextReferenceLink` to the
  source numbered n, when n is listed in the same HTML; any other "[3]" stays text;
- the source list (the `<ol>` after the `<h4>` at the end) becomes list items whose text is a
  `RichTextReference` named after its number, so every link resolves in the same message.

Anything outside that tag set, or a shape our renderer never writes, gives None: the caller then sends
the HTML form, which says the same with "[n]" as plain text.

It lives in delivery, not render, because it builds aiogram's types (render knows no Telegram client).
Objects are made with `model_construct` (no validation): validating each of a 32K message's thousands
of rich texts against the 28-member `RichTextUnion` cost 4× the whole conversion; the fields are
checked by the unit tests (a round trip through validation) and the fake server's strict checks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser

from aiogram.types import (
    InputRichBlockBlockQuotation,
    InputRichBlockDivider,
    InputRichBlockList,
    InputRichBlockListItem,
    InputRichBlockParagraph,
    InputRichBlockPreformatted,
    InputRichBlockSectionHeading,
    InputRichBlockTable,
    RichBlockTableCell,
    RichTextBold,
    RichTextCode,
    RichTextItalic,
    RichTextReference,
    RichTextReferenceLink,
    RichTextStrikethrough,
    RichTextUnderline,
    RichTextUrl,
)
from aiogram.types.input_rich_block_union import InputRichBlockUnion
from aiogram.types.rich_text_union import RichTextUnion

# Deeper than this is not our renderer's output (it flattens Markdown nesting at 8 levels).
_MAX_DEPTH = 64
# A mark's number has at most this many digits (a message lists a handful of sources).
_MAX_MARK_DIGITS = 4

_STYLES: dict[str, type[RichTextBold | RichTextItalic | RichTextStrikethrough | RichTextUnderline]] = {
    "b": RichTextBold,
    "i": RichTextItalic,
    "s": RichTextStrikethrough,
    "u": RichTextUnderline,
}
_HEADINGS = {f"h{level}": level for level in range(1, 7)}
_LEAVES = frozenset({"p", "th", "td", *_HEADINGS})
_CONTAINERS = frozenset({"blockquote", "li"})


class UnexpectedHtmlError(Exception):
    """The HTML is not what our renderer writes; the caller keeps the HTML form."""


def reference_name(number: int) -> str:
    """The reference name of the source numbered `number` (a link's `reference_name`)."""
    return f"source{number}"


@dataclass
class _Element:
    """An open tag: its inline texts (for inline tags and leaves), or its blocks (for containers)."""

    tag: str
    texts: list[RichTextUnion] = field(default_factory=list)
    blocks: list[InputRichBlockUnion] = field(default_factory=list)
    items: list[list[InputRichBlockUnion]] = field(default_factory=list)  # a list's items' blocks
    cells: list[RichBlockTableCell] = field(default_factory=list)  # a row's cells
    rows: list[list[RichBlockTableCell]] = field(default_factory=list)  # a table's rows
    href: str = ""
    language: str = ""
    start: int = 1
    implicit: bool = False  # a paragraph opened for inline content directly in a container


def _joined(texts: list[RichTextUnion]) -> RichTextUnion:
    """A sequence of rich texts as one (a single one as itself; an empty one as "")."""
    if not texts:
        return ""
    return texts[0] if len(texts) == 1 else texts


def _trailing_marks(text: str) -> tuple[int, list[int]]:
    """Where a run of marks "[1][2]" at the end of `text` starts, and their numbers (none: len(text), []).

    Scans back from the end, a few characters per mark: linear however many brackets the text holds.
    """
    numbers: list[int] = []
    end = len(text)
    while end > 0 and text[end - 1] == "]":
        opening = text.rfind("[", max(0, end - 2 - _MAX_MARK_DIGITS), end - 1)
        digits = text[opening + 1 : end - 1] if opening >= 0 else ""
        if not (digits.isascii() and digits.isdigit()):
            break
        numbers.append(int(digits))
        end = opening
    numbers.reverse()
    return end, numbers


class _Converter(HTMLParser):
    def __init__(self, sources: Sequence[int]) -> None:
        super().__init__(convert_charrefs=True)
        self.sources = list(sources)
        self.names = {number: reference_name(number) for number in sources}
        self.stack: list[_Element] = [_Element("root")]
        self.links = 0
        self.last_top: str = ""  # the tag of the last top-level block closed ("h4", "ol", …)
        self.sources_done = False

    # ------------------------------------------------------------------ helpers

    @property
    def top(self) -> _Element:
        return self.stack[-1]

    def _container(self) -> _Element:
        """The block container inline content goes into, opening an implicit paragraph in it."""
        top = self.top
        if top.tag in _CONTAINERS or top.tag == "root":
            if top.tag == "root" and self.sources_done:
                raise UnexpectedHtmlError("text after the source list")
            paragraph = _Element("p", implicit=True)
            self._push(paragraph)
            return paragraph
        if top.tag in ("ul", "ol", "table", "tr", "pre"):
            raise UnexpectedHtmlError(f"inline content directly in <{top.tag}>")
        return top

    def _push(self, element: _Element) -> None:
        if len(self.stack) > _MAX_DEPTH:
            raise UnexpectedHtmlError("nested too deeply")
        self.stack.append(element)

    def _add_text(self, text: RichTextUnion) -> None:
        texts = self._container().texts
        if isinstance(text, str) and texts and isinstance(texts[-1], str):
            texts[-1] += text
        else:
            texts.append(text)

    def _add_block(self, block: InputRichBlockUnion, tag: str) -> None:
        if self.top.implicit:
            self._close_implicit()
        parent = self.top
        if parent.tag not in _CONTAINERS and parent.tag != "root":
            raise UnexpectedHtmlError(f"<{tag}> inside <{parent.tag}>")
        if parent.tag == "root":
            if self.sources_done:
                raise UnexpectedHtmlError("a block after the source list")
            self.last_top = tag
        parent.blocks.append(block)

    def _close_implicit(self) -> None:
        element = self.stack.pop()
        self._add_block(
            InputRichBlockParagraph.model_construct(text=self._paragraph_text(element.texts)), "p"
        )

    def _paragraph_text(self, texts: list[RichTextUnion]) -> RichTextUnion:
        """A paragraph's texts, with the marks at its end as links to the sources listed here."""
        if texts and isinstance(texts[-1], str) and self.names:
            last = texts[-1]
            start, numbers = _trailing_marks(last)
            if numbers and all(n in self.names for n in numbers):
                links: list[RichTextUnion] = [
                    RichTextReferenceLink.model_construct(text=f"[{n}]", reference_name=self.names[n])
                    for n in numbers
                ]
                self.links += len(links)
                head: list[RichTextUnion] = [last[:start]] if start else []
                texts = [*texts[:-1], *head, *links]
        return _joined(texts)

    # ------------------------------------------------------------------ parser events

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        top = self.top
        if tag == "br":
            self._add_text("\n")
        elif tag == "hr":
            self._add_block(InputRichBlockDivider.model_construct(), "hr")
        elif tag in _STYLES or tag == "a":
            if top.tag == "pre":
                raise UnexpectedHtmlError(f"<{tag}> in <pre>")
            self._container()
            self._push(_Element(tag, href=values.get("href", "")))
        elif tag == "code":
            if top.tag == "pre":
                language = values.get("class", "")
                self._push(_Element("code", language=language.removeprefix("language-")))
            else:
                self._container()
                self._push(_Element("code"))
        elif tag in _LEAVES or tag in ("ul", "ol", "blockquote", "table", "pre"):
            if top.implicit:
                self._close_implicit()
            self._check_parent(tag)
            start = values.get("start", "1")
            if not (start.isascii() and start.isdigit()):
                raise UnexpectedHtmlError(f"<ol start={start!r}>")
            self._push(_Element(tag, start=int(start)))
        elif tag in ("li", "tr"):
            if top.implicit:
                self._close_implicit()
            self._check_parent(tag)
            self._push(_Element(tag))
        else:
            raise UnexpectedHtmlError(f"<{tag}>")

    def _check_parent(self, tag: str) -> None:
        parent = self.top.tag
        allowed = {
            "li": ("ul", "ol"),
            "tr": ("table",),
            "th": ("tr",),
            "td": ("tr",),
        }.get(tag, ("root", "blockquote", "li"))
        if parent not in allowed:
            raise UnexpectedHtmlError(f"<{tag}> inside <{parent}>")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ("br", "hr"):
            raise UnexpectedHtmlError(f"<{tag}/>")
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("br", "hr"):
            return
        if self.top.implicit:
            self._close_implicit()
        element = self.stack.pop() if len(self.stack) > 1 else None
        if element is None or element.tag != tag:
            raise UnexpectedHtmlError(f"</{tag}> does not close what is open")
        text = _joined(element.texts)
        if tag in _STYLES:
            self._add_text(_STYLES[tag].model_construct(text=text))
        elif tag == "a":
            self._add_text(RichTextUrl.model_construct(text=text, url=element.href) if element.href else text)
        elif tag == "code" and self.top.tag == "pre":
            self.top.texts.append(text)
            self.top.language = element.language
        elif tag == "code":
            self._add_text(RichTextCode.model_construct(text=text))
        elif tag == "pre":
            language = element.language or None
            self._add_block(InputRichBlockPreformatted.model_construct(text=text, language=language), tag)
        elif tag == "p":
            self._add_block(
                InputRichBlockParagraph.model_construct(text=self._paragraph_text(element.texts)), tag
            )
        elif tag in _HEADINGS:
            self._add_block(InputRichBlockSectionHeading.model_construct(text=text, size=_HEADINGS[tag]), tag)
        elif tag == "blockquote":
            self._add_block(InputRichBlockBlockQuotation.model_construct(blocks=element.blocks), tag)
        elif tag == "li":
            self.top.items.append(element.blocks)
        elif tag in ("ul", "ol"):
            self._close_list(element)
        elif tag in ("th", "td"):
            header = True if tag == "th" else None
            self.top.cells.append(
                RichBlockTableCell.model_construct(align="left", valign="top", text=text, is_header=header)
            )
        elif tag == "tr":
            self.top.rows.append(element.cells)
        elif tag == "table":
            self._add_block(InputRichBlockTable.model_construct(cells=element.rows), tag)

    def _close_list(self, element: _Element) -> None:
        items = element.items
        is_sources = (
            element.tag == "ol"
            and len(self.stack) == 1
            and self.last_top == "h4"
            and bool(self.sources)
            and len(items) == len(self.sources)
        )
        if element.tag == "ul":
            built = [InputRichBlockListItem.model_construct(blocks=blocks) for blocks in items]
        elif not is_sources:
            # An ordered list is one whose items carry their numbers.
            built = [
                InputRichBlockListItem.model_construct(blocks=blocks, value=element.start + offset, type="1")
                for offset, blocks in enumerate(items)
            ]
        else:
            built = [
                InputRichBlockListItem.model_construct(
                    blocks=[self._reference(blocks, number)], value=number, type="1"
                )
                for blocks, number in zip(items, self.sources, strict=True)
            ]
        self._add_block(InputRichBlockList.model_construct(items=built), element.tag)
        self.sources_done = self.sources_done or is_sources

    def _reference(self, blocks: list[InputRichBlockUnion], number: int) -> InputRichBlockParagraph:
        """A source line (one paragraph) as the reference that marks "[number]" link to."""
        if len(blocks) != 1 or not isinstance(blocks[0], InputRichBlockParagraph):
            raise UnexpectedHtmlError("a source line that is not one paragraph")
        return InputRichBlockParagraph.model_construct(
            text=RichTextReference.model_construct(text=blocks[0].text, name=self.names[number])
        )

    def handle_data(self, data: str) -> None:
        top = self.top
        if top.tag == "code" and len(self.stack) > 1 and self.stack[-2].tag == "pre":
            top.texts.append(data)
            return
        if top.tag in ("root", "blockquote", "li", "ul", "ol", "table", "tr", "pre") and not data.strip():
            return  # whitespace between blocks
        self._add_text(data)

    def handle_comment(self, data: str) -> None:
        raise UnexpectedHtmlError("a comment")

    def handle_decl(self, decl: str) -> None:
        raise UnexpectedHtmlError("a declaration")

    def handle_pi(self, data: str) -> None:
        raise UnexpectedHtmlError("a processing instruction")

    def unknown_decl(self, data: str) -> None:
        raise UnexpectedHtmlError("a declaration")

    def result(self) -> list[InputRichBlockUnion]:
        self.close()
        if self.top.implicit:
            self._close_implicit()
        if len(self.stack) != 1:
            raise UnexpectedHtmlError(f"<{self.top.tag}> is never closed")
        if self.sources and not self.sources_done:
            raise UnexpectedHtmlError("no source list at the end")
        return self.stack[0].blocks


def _convert(rich_html: str, sources: Sequence[int]) -> tuple[list[InputRichBlockUnion], int] | None:
    converter = _Converter(sources)
    try:
        converter.feed(rich_html)
        blocks = converter.result()
    except (UnexpectedHtmlError, ValueError, TypeError, AssertionError):
        # ValueError covers pydantic's ValidationError; AssertionError an HTMLParser internal check.
        return None
    return (blocks, converter.links) if blocks else None


def rich_blocks(rich_html: str, sources: Sequence[int] = ()) -> list[InputRichBlockUnion] | None:
    """The blocks (https://core.telegram.org/bots/api#inputrichblock) that show what `rich_html` shows.

    `rich_html`: one rich message as `bot.render.answer.render_answer` writes it (`AnswerChunk.rich`).
    `sources`: the source numbers listed at its end (`AnswerChunk.sources`), in order; when given, the
    `<ol>` after the final `<h4>` must list exactly that many, and its items become references
    (`RichTextReference`, https://core.telegram.org/bots/api#richtextreference) that the marks "[n]"
    at the end of paragraphs link to (`RichTextReferenceLink`,
    https://core.telegram.org/bots/api#richtextreferencelink). A mark whose number is not listed stays
    text. Returns None for anything our renderer does not write (never raises); linear in the input.
    """
    converted = _convert(rich_html, sources)
    return converted[0] if converted is not None else None


def reference_blocks(rich_html: str, sources: Sequence[int]) -> list[InputRichBlockUnion] | None:
    """`rich_blocks`, but None also when no mark became a link: then blocks add nothing to the HTML."""
    converted = _convert(rich_html, sources) if sources else None
    if converted is None or converted[1] == 0:
        return None
    return converted[0]
