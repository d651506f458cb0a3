"""Model Markdown → a small block tree (each leaf's inline runs a flat token list), by pulldown-cmark.

pulldown-cmark (through pyromark) is a CommonMark parser written in Rust that runs in linear time:
the bracket, emphasis and tag shapes that made the regex converter backtrack cost it nothing. Raw HTML
in the model's text is kept as the text it was (a model that writes `<blockquote>` in prose means the
word), and emphasis that touches a letter or digit on its outside (`foo*bar*baz`) stays literal.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import pyromark

# Deeper nesting than this is flattened: Telegram's rich messages allow 16 levels, and a renderer that
# recursed 50,000 quote levels deep would exhaust the stack.
MAX_DEPTH = 8
# Telegram counts blocks and rich texts together against its 16 levels: a style in a paragraph in a
# list item in a list is level 4. Styles deeper than the leaf leaves room for are flattened.
RICH_MAX_LEVELS = 16

_OPTIONS = pyromark.Options.ENABLE_TABLES | pyromark.Options.ENABLE_STRIKETHROUGH

BlockKind = Literal["p", "h", "ul", "ol", "li", "pre", "quote", "table", "tr", "th", "td", "hr"]

# A leaf's inline content is a flat token list, not a tree: 100 KB of `**_` runs is 22,000 styles, and
# an object per run plus a recursive pass per level cost 5× the parse itself (issue 10).
# - `str`: text as the parser gave it (neighbouring pieces are joined when rendered);
# - `(kind, "")`: a style ("b", "i", "s") begins; `("/", kind)`: it ends; `("link", url)`: a link
#   begins; `CLOSE`: it ends; `("code", text)`: inline code; `BREAK`: a hard line break.
Token = str | tuple[str, str]
CLOSE: tuple[str, str] = ("/", "")
BREAK: tuple[str, str] = ("br", "")
# A style's start (Emphasis, Strong, Strikethrough): one shared token each.
_OPENS: dict[object, tuple[str, str]] = {
    "Emphasis": ("i", ""),
    "Strong": ("b", ""),
    "Strikethrough": ("s", ""),
}
_CLOSES: dict[object, tuple[str, str]] = {name: ("/", kind) for name, (kind, _) in _OPENS.items()}


@dataclass(slots=True)
class Block:
    """A block: paragraph, heading (`level`), list, item, code, quote, table, row, cell or rule."""

    kind: BlockKind
    inlines: list[Token] = field(default_factory=list)  # p, h, th, td: flat inline tokens
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
        self.inlines: list[Token] | None = None  # the current leaf's tokens
        self.styles: list[int] = []  # open styles' and links' token indexes; -1: too deep, not shown
        # Every shown style as (its leaf's tokens, start index, CLOSE index), for `_literal_intraword`.
        self.spans: list[tuple[list[Token], int, int]] = []
        self.ignored: list[bool] = []  # per open container: was it flattened?
        self.code: Block | None = None
        self.code_parts: list[str] = []  # joined once at the block's end: `+=` would be quadratic

    def _open_block(self, block: Block) -> None:
        parent = self.blocks[-1]
        parent.children.append(block)
        self.blocks.append(block)

    def _leaf(self, block: Block) -> None:
        self._open_block(block)
        self.inlines = block.inlines

    def _ensure_leaf(self) -> list[Token]:
        if self.inlines is None:
            # Inline content outside a leaf (e.g. text directly in a tight list item) gets a paragraph.
            self._leaf(Block("p"))
            self._implicit = True
        assert self.inlines is not None
        return self.inlines

    def style_limit(self) -> int:
        """How many styles (and links) may nest in the open leaf: at most MAX_DEPTH, and within
        RICH_MAX_LEVELS counting the leaf's blocks (`self.blocks` less the root) and one level kept for
        inline code or an address shown as code inside the innermost style."""
        return min(MAX_DEPTH, RICH_MAX_LEVELS - len(self.blocks))

    def _add_inline(self, token: Token) -> None:
        self._ensure_leaf().append(token)

    def _open_style(self, token: tuple[str, str]) -> None:
        tokens = self._ensure_leaf()
        self.styles.append(len(tokens))
        tokens.append(token)

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
        self._ensure_leaf().append(text)

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
        elif name in ("Emphasis", "Strong", "Strikethrough", "Link", "Image"):
            self._ensure_leaf()  # first: an implicit paragraph is a level too
            if len(self.styles) >= self.style_limit():
                # Too deep to nest: the text goes on in the enclosing run.
                self.styles.append(-1)
            elif name in _OPENS:
                self._open_style(_OPENS[name])
            else:
                # A link; images cannot be shown inline: their alt text and address stay as a link.
                self._open_style(("link", tag[name]["dest_url"]))  # type: ignore[index]
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
            start = self.styles.pop()
            if start >= 0:
                if name in _OPENS:
                    self.spans.append((self.inlines, start, len(self.inlines)))
                self.inlines.append(_CLOSES.get(name, CLOSE))
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
    spans = builder.spans
    # The open leaf's tokens while not in a code block (builder.inlines unless builder.code), kept in a
    # local: only the general dispatch below changes them.
    tokens: list[Token] | None = None
    style_limit = builder.style_limit()  # for the open leaf; changes only with the general dispatch
    key: str
    value: Any  # pyromark's event payloads: str, int, dict or None
    events: Iterator[Any] = pyromark.events(markdown, options=_OPTIONS)  # one-key dicts and names
    for event in events:
        if event.__class__ is dict:
            key, value = event.popitem()  # each event is a one-key dict, made for this loop alone
            # Fast paths first: text and emphasis are most of the events (22,000 of each in 100 KB of
            # `**_` runs), so they skip the general dispatch below.
            if tokens is not None:
                if key == "Text" or key == "InlineHtml":  # raw HTML is text the model wrote
                    tokens.append(value)
                    continue
                if value.__class__ is str:
                    opening = _OPENS.get(value)
                    if opening is not None:
                        if key == "End":
                            start = styles.pop()
                            if start >= 0:
                                spans.append((tokens, start, len(tokens)))
                                tokens.append(_CLOSES[value])
                            continue
                        if key == "Start" and len(styles) < style_limit:
                            styles.append(len(tokens))
                            tokens.append(opening)
                            continue
            if key == "Text":
                builder.text(str(value))
            elif key == "Code":
                builder._add_inline(("code", str(value)))
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
        elif event == "Rule":
            builder._close_implicit()
            builder.blocks[-1].children.append(Block("hr"))
        elif event == "HardBreak":
            builder._add_inline(BREAK)
        else:  # SoftBreak
            builder.text("\n")
        tokens = builder.inlines if builder.code is None else None
        style_limit = builder.style_limit()
    _literal_intraword(builder.spans)
    return builder.root.children


_DELIMITER = {"i": "*", "b": "**", "s": "~~"}


def _literal_intraword(spans: list[tuple[list[Token], int, int]]) -> None:
    """`foo*bar*baz`, `2*3*4`: emphasis glued to a word on its outside was never meant; keep the stars.

    `_` never opens inside a word in CommonMark, so any emphasis touching a word outside was made with
    `*` (or `**`, `~~`). Such a style's start and CLOSE tokens become its delimiter as text, in place.
    `spans`: (a leaf's tokens, a style's start index, its CLOSE index). A delimiter put back is never a
    letter, so the order the spans are looked at in does not change the outcome.
    """
    for tokens, start, close in spans:
        before = tokens[start - 1] if start else None
        after = tokens[close + 1] if close + 1 < len(tokens) else None
        if (before.__class__ is str and before[-1:].isalnum()) or (
            after.__class__ is str and after[:1].isalnum()
        ):
            tokens[start] = tokens[close] = _DELIMITER[tokens[start][0]]
