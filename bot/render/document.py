"""Model Markdown → a small document tree (blocks and inline runs), parsed by pulldown-cmark.

pulldown-cmark (through pyromark) is a CommonMark parser written in Rust that runs in linear time:
the bracket, emphasis and tag shapes that made the regex converter backtrack cost it nothing. Raw HTML
in the model's text is kept as the text it was (a model that writes `<blockquote>` in prose means the
word), and emphasis that touches a letter or digit on its outside (`foo*bar*baz`) stays literal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import pyromark

# Deeper nesting than this is flattened: Telegram's rich messages allow 16 levels, and a renderer that
# recursed 50,000 quote levels deep would exhaust the stack.
MAX_DEPTH = 8

_OPTIONS = pyromark.Options.ENABLE_TABLES | pyromark.Options.ENABLE_STRIKETHROUGH

InlineKind = Literal["text", "b", "i", "s", "code", "link", "br"]
BlockKind = Literal["p", "h", "ul", "ol", "li", "pre", "quote", "table", "tr", "th", "td", "hr"]


@dataclass(slots=True)
class Inline:
    """A run of text: plain, styled (b/i/s) around children, inline code, a link, or a line break."""

    kind: InlineKind
    text: str = ""  # text and code
    url: str = ""  # link
    children: list[Inline] = field(default_factory=list)


@dataclass(slots=True)
class Block:
    """A block: paragraph, heading (`level`), list, item, code, quote, table, row, cell or rule."""

    kind: BlockKind
    inlines: list[Inline] = field(default_factory=list)  # p, h, th, td
    children: list[Block] = field(default_factory=list)  # lists, items, quotes, tables, rows
    level: int = 0  # heading level
    start: int = 1  # first number of an ordered list
    language: str = ""  # code block
    code: str = ""  # code block


class _Builder:
    """Turns the parser's event stream into blocks; every step is O(1) per event."""

    def __init__(self) -> None:
        self.root = Block("quote")
        self.blocks: list[Block] = [self.root]
        self.inlines: list[list[Inline]] | None = None  # open inline containers of the current leaf
        self.styles: list[Inline] = []
        self.ignored: list[bool] = []  # per open container: was it flattened?
        self.code: Block | None = None
        self.code_parts: list[str] = []  # joined once at the block's end: `+=` would be quadratic

    def _open_block(self, block: Block) -> None:
        parent = self.blocks[-1]
        parent.children.append(block)
        self.blocks.append(block)

    def _leaf(self, block: Block) -> None:
        self._open_block(block)
        self.inlines = [block.inlines]

    def _ensure_leaf(self) -> list[list[Inline]]:
        if self.inlines is None:
            # Inline content outside a leaf (e.g. text directly in a tight list item) gets a paragraph.
            self._leaf(Block("p"))
            self._implicit = True
        assert self.inlines is not None
        return self.inlines

    def _add_inline(self, inline: Inline) -> None:
        self._ensure_leaf()[-1].append(inline)

    _implicit = False

    def _close_implicit(self) -> None:
        if self._implicit:
            self._implicit = False
            self.inlines = None
            self.blocks.pop()

    def text(self, text: str) -> None:
        if self.code is not None:
            self.code_parts.append(text)
            return
        # Neighbouring runs are merged once, after parsing (`_literal_intraword`): linear, not `+=`.
        self._ensure_leaf()[-1].append(Inline("text", text))

    def start(self, tag: object) -> None:
        container_tags = ("List", "Item", "BlockQuote")
        name = tag if isinstance(tag, str) else next(iter(tag))  # type: ignore[call-overload]
        if name in container_tags or (isinstance(tag, dict) and ("List" in tag or "BlockQuote" in tag)):
            self._close_implicit()
            flatten = len(self.blocks) > MAX_DEPTH
            self.ignored.append(flatten)
            if flatten:
                return
            if isinstance(tag, dict) and "List" in tag:
                first = tag["List"]
                self._open_block(Block("ol" if first is not None else "ul", start=first or 1))
            elif name == "Item":
                self._open_block(Block("li"))
            else:
                self._open_block(Block("quote"))
            return
        if name == "Paragraph":
            self._close_implicit()
            self._leaf(Block("p"))
        elif name == "Heading":
            self._close_implicit()
            level = int(tag["Heading"]["level"][1])  # type: ignore[index]
            self._leaf(Block("h", level=level))
        elif name == "CodeBlock":
            self._close_implicit()
            kind = tag["CodeBlock"]  # type: ignore[index]
            language = kind.get("Fenced", "") if isinstance(kind, dict) else ""
            block = Block("pre", language=language.split()[0] if language.strip() else "")
            self.blocks[-1].children.append(block)
            self.code = block
            self.code_parts = []
        elif name == "HtmlBlock":
            self._close_implicit()
            self._leaf(Block("p"))
        elif name == "Table":
            self._close_implicit()
            self._open_block(Block("table"))
        elif name in ("TableHead", "TableRow"):
            self._open_block(Block("tr"))
        elif name == "TableCell":
            header = any(b.kind == "tr" for b in self.blocks) and self._in_head
            self._leaf(Block("th" if header else "td"))
        elif (
            name in ("Emphasis", "Strong", "Strikethrough", "Link", "Image") and len(self.styles) >= MAX_DEPTH
        ):
            # Too deep to nest: the text goes on in the enclosing run.
            inlines = self._ensure_leaf()
            inlines.append(inlines[-1])
            self.styles.append(Inline("text"))
        elif name in ("Emphasis", "Strong", "Strikethrough"):
            style = Inline({"Emphasis": "i", "Strong": "b", "Strikethrough": "s"}[name])  # type: ignore[arg-type]
            self._add_inline(style)
            assert self.inlines is not None
            self.inlines.append(style.children)
            self.styles.append(style)
        elif name == "Link":
            data = tag["Link"]  # type: ignore[index]
            link = Inline("link", url=data["dest_url"])
            self._add_inline(link)
            assert self.inlines is not None
            self.inlines.append(link.children)
            self.styles.append(link)
        elif name == "Image":
            data = tag["Image"]  # type: ignore[index]
            # Images cannot be shown inline; their alt text and address stay as a link.
            link = Inline("link", url=data["dest_url"])
            self._add_inline(link)
            assert self.inlines is not None
            self.inlines.append(link.children)
            self.styles.append(link)
        else:  # footnotes, metadata and the rest are shown as plain paragraphs
            self._close_implicit()
            self._leaf(Block("p"))

    _in_head = False

    def end(self, tag: object) -> None:
        name = tag if isinstance(tag, str) else next(iter(tag))  # type: ignore[call-overload]
        if name in ("List", "Item", "BlockQuote"):
            self._close_implicit()
            if not self.ignored.pop():
                self.blocks.pop()
            return
        if name == "CodeBlock":
            if self.code is not None:
                self.code.code = "".join(self.code_parts)
            self.code = None
        elif name in ("Emphasis", "Strong", "Strikethrough", "Link", "Image"):
            assert self.inlines is not None
            self.inlines.pop()
            self.styles.pop()
        elif name == "TableHead":
            self._in_head = False
            self.blocks.pop()
        elif name in ("TableRow", "Table"):
            self.blocks.pop()
        else:  # leaves: Paragraph, Heading, HtmlBlock, TableCell, others
            self._implicit = False
            self.inlines = None
            self.blocks.pop()


def parse_markdown(markdown: str) -> list[Block]:
    """The model's Markdown as blocks. Linear in the input's length; never raises on any text."""
    # CommonMark (2.3, insecure characters): NUL becomes U+FFFD. The renderer relies on it: NUL marks a
    # line break while one rendering of a leaf serves both HTML forms (bot.render.formats).
    markdown = markdown.replace("\x00", "\ufffd")
    builder = _Builder()
    styles = builder.styles
    value: Any  # pyromark's event payloads: str, int, dict or None
    for event in pyromark.events(markdown, options=_OPTIONS):
        # Fast paths first: text and emphasis are most of the events (22,000 of each in 100 KB of
        # `**_` runs), so they skip the general dispatch below.
        if not isinstance(event, str):
            ((key, value),) = event.items()
            open_inlines = builder.inlines
            if open_inlines is not None and builder.code is None:
                if key == "Text" or key == "InlineHtml":  # raw HTML is text the model wrote
                    open_inlines[-1].append(Inline("text", value))
                    continue
                if key == "Start" and value.__class__ is str and value in _STYLE and len(styles) < MAX_DEPTH:
                    style = Inline(_STYLE[value])
                    open_inlines[-1].append(style)
                    open_inlines.append(style.children)
                    styles.append(style)
                    continue
                if key == "End" and value.__class__ is str and value in _STYLE:
                    open_inlines.pop()
                    styles.pop()
                    continue
        if isinstance(event, str):  # SoftBreak, HardBreak, Rule
            if event == "Rule":
                builder._close_implicit()
                builder.blocks[-1].children.append(Block("hr"))
            elif event == "HardBreak":
                builder._add_inline(Inline("br"))
            else:
                builder.text("\n")
            continue
        ((key, value),) = event.items()
        if key == "Text":
            builder.text(str(value))
        elif key == "Code":
            builder._add_inline(Inline("code", str(value)))
        elif key in ("Html", "InlineHtml"):
            builder.text(str(value))  # raw HTML is text the model wrote, shown as written
        elif key == "Start":
            if value == "TableHead":
                builder._in_head = True
            builder.start(value)
        elif key == "End":
            builder.end(value)
        elif key in ("InlineMath", "DisplayMath", "FootnoteReference"):
            builder.text(str(value))
        elif key == "TaskListMarker":
            builder.text("☑ " if value else "☐ ")
    blocks = builder.root.children
    for block in _walk(blocks):
        block.inlines = _literal_intraword(block.inlines)
    return blocks


def _walk(blocks: list[Block]) -> list[Block]:
    out: list[Block] = []
    stack = list(reversed(blocks))
    while stack:
        block = stack.pop()
        out.append(block)
        stack.extend(reversed(block.children))
    return out


_DELIMITER = {"i": "*", "b": "**", "s": "~~"}
_STYLE: dict[object, InlineKind] = {"Emphasis": "i", "Strong": "b", "Strikethrough": "s"}


def _literal_intraword(inlines: list[Inline]) -> list[Inline]:
    """`foo*bar*baz`, `2*3*4`: emphasis glued to a word on its outside was never meant; keep the stars.

    `_` never opens inside a word in CommonMark, so any emphasis touching a word outside was made with
    `*` (or `**`, `~~`).
    """
    out: list[Inline] = []
    last = len(inlines) - 1
    for index, inline in enumerate(inlines):
        kind = inline.kind
        if kind == "text":
            out.append(inline)
            continue
        if inline.children:
            inline.children = _literal_intraword(inline.children)
        mark = _DELIMITER.get(kind)
        if mark is not None:
            before = out[-1] if out else None
            after = inlines[index + 1] if index < last else None
            if (before is not None and before.kind == "text" and before.text[-1:].isalnum()) or (
                after is not None and after.kind == "text" and after.text[:1].isalnum()
            ):
                out.append(Inline("text", mark))
                out.extend(inline.children)
                out.append(Inline("text", mark))
                continue
        out.append(inline)
    # Merge neighbouring text runs (the parser's and the literal marks'), each run joined once.
    if len(out) < 2:
        return out
    merged: list[Inline] = []
    run: list[str] = []
    for inline in out:
        if inline.kind == "text":
            run.append(inline.text)
            continue
        if run:
            merged.append(Inline("text", "".join(run)))
            run = []
        merged.append(inline)
    if run:
        merged.append(Inline("text", "".join(run)))
    return merged
