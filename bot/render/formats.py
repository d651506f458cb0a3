"""The document tree → the three forms Telegram gets: rich-message HTML, classic HTML, plain text.

- rich: Bot API 10.1 rich messages (`InputRichMessage.html`): headings, lists, tables, code, quotes
  as they are.
- classic: `parse_mode=HTML` messages, which know only b, i, s, u, code, pre, a, blockquote: headings
  become bold lines, lists get bullets, tables become aligned monospace text.
- plain: the same words without any markup, for when even classic HTML is refused.

Every character of the model's text is escaped, so nothing it writes can become a tag. Bare
addresses in the text and Markdown links follow the `LinkPolicy`: kept ones are links with their
domain shown; the rest stay text (in `<code>`, so Telegram does not turn them into links itself).
"""

from __future__ import annotations

import html
import re
from typing import Literal

from bot.render.document import Block, Token
from bot.render.links import LinkPolicy, domain_of
from bot.render.splitting import units

Form = Literal["rich", "classic", "plain"]

# Telegram's rich messages show at most 20 table columns.
MAX_RICH_TABLE_COLUMNS = 20

_BARE_URL_RE = re.compile(
    r"(?:https?|tg|javascript|data|file|ftp)://[^\s<>\"'`]+|javascript:[^\s<>\"'`]+", re.I
)
_TRAILING = ".,;:!?»”’)"


def _trim_url(url: str) -> str:
    # "(see https://e.com/a_(b))." keeps the balanced parenthesis of the address, not the sentence's.
    while url and url[-1] in _TRAILING:
        if url[-1] == ")" and url.count("(") >= url.count(")"):
            break
        url = url[:-1]
    return url


# A line break inside a leaf, until the form is known: parse_markdown turns NUL into U+FFFD (as
# CommonMark says), so rich and classic forms can share one rendering of a leaf's inline runs.
_BR = "\x00"
_OPENING = {kind: f"<{kind}>" for kind in ("b", "i", "s")}
_CLOSING = {kind: f"</{kind}>" for kind in ("b", "i", "s")}


# Styles and line breaks as NUL-led placeholders: NUL is never in the text (parse_markdown turns it into
# U+FFFD), so a leaf of styled text alone is escaped and tagged by a few C-level passes over one string.
_PLACEHOLDERS: dict[Token, str] = {
    **{(kind, ""): f"\x00{kind}" for kind in ("b", "i", "s")},
    **{("/", kind): f"\x00/{kind}" for kind in ("b", "i", "s")},
    ("br", ""): "\x00n",
}
_TAGS = [(f"\x00{kind}", f"<{kind}>") for kind in ("b", "i", "s")] + [
    (f"\x00/{kind}", f"</{kind}>") for kind in ("b", "i", "s")
]


def _styled_text(tokens: list[Token]) -> str | None:
    """HTML of a leaf that holds only text, styles and line breaks, with no `:` (so no address) in
    its text; None for any other leaf. The same markup the token loop makes (escaping is per
    character), 10× faster on 100 KB of `**_` runs."""
    try:
        joined = "".join(map(_PLACEHOLDERS.get, tokens, tokens))  # type: ignore[arg-type]
    except TypeError:  # a link or inline code: a tuple left in the join
        return None
    if ":" in joined:
        return None
    markup = html.escape(joined, quote=False)
    if "\x00" not in markup:
        return markup
    for placeholder, tag in _TAGS:
        markup = markup.replace(placeholder, tag)
    return markup.replace("\x00n", _BR)  # last: a NUL left alone is the line-break mark


class _Writer:
    def __init__(self, form: Form, policy: LinkPolicy, memo: dict[int, str] | None = None) -> None:
        self.form = form
        self.policy = policy
        self.br = "<br>" if form == "rich" else "\n"
        # Leaf HTML by id of its inline list, shared by the rich and the classic writer of one tree.
        self.memo: dict[int, str] = memo if memo is not None else {}
        self.runs: dict[str, str] = {}  # text run → its markup in this form
        self.plain_writer: _Writer | None = None  # for tables shown as lines

    # ---------------------------------------------------------------- inline

    def esc(self, text: str) -> str:
        return text if self.form == "plain" else html.escape(text, quote=False)

    def text(self, text: str) -> str:
        """Plain text run: escaped, with bare addresses made safe links or kept as text."""
        if ":" not in text:  # no address can be in it: most runs
            return self.esc(text)
        out: list[str] = []
        pos = 0
        for match in _BARE_URL_RE.finditer(text):
            url = _trim_url(match.group(0))
            end = match.start() + len(url)
            out.append(self.esc(text[pos : match.start()]))
            out.append(self.link(url, None))
            pos = end
        out.append(self.esc(text[pos:]))
        return "".join(out)

    def link(self, url: str, label: str | None) -> str:
        domain = domain_of(url)
        if self.policy.keeps(url):
            shown = label if label is not None else self.esc(domain or url)
            if self.form == "plain":
                return f"{shown} ({url})" if label is not None else url
            suffix = f" ({self.esc(domain)})" if label is not None and domain and domain not in label else ""
            return f'<a href="{html.escape(url, quote=True)}">{shown}</a>{suffix}'
        # Not a link we vouch for: the label alone, or the address as inert text.
        if label is not None and label.strip():
            return label
        if self.form == "plain":
            return url.replace("://", "[:]//", 1).replace(".", "[.]")
        return f"<code>{self.esc(url)}</code>"

    def inlines(self, tokens: list[Token]) -> str:
        """A leaf's flat tokens (bot.render.document) as markup, in one pass: neighbouring text
        pieces are joined into one run first, so an address split by the parser is found whole."""
        plain = self.form == "plain"
        if not plain:
            fast = _styled_text(tokens)
            if fast is not None:
                return fast
        # Text runs rendered so far: adversarial answers repeat the same few runs thousands of times.
        runs = self.runs
        out: list[str] = []
        run: list[str] = []
        # Per open style its closing tag; per open link where its label starts in `out`, and its address.
        opened: list[str | tuple[int, str]] = []
        for token in tokens:
            if isinstance(token, str):
                run.append(token)
                continue
            if run:
                text = run[0] if len(run) == 1 else "".join(run)
                rendered = runs.get(text)
                if rendered is None:
                    rendered = runs[text] = self.text(text)
                out.append(rendered)
                run = []
            kind, value = token
            if kind == "/":
                closing = opened.pop()
                if isinstance(closing, str):
                    if closing:
                        out.append(closing)
                    continue
                start, url = closing
                label = "".join(out[start:])
                del out[start:]
                out.append(self.link(url, label if label.strip() else None))
            elif kind in _CLOSING:
                if plain:
                    opened.append("")
                else:
                    out.append(_OPENING[kind])
                    opened.append(_CLOSING[kind])
            elif kind == "link":
                opened.append((len(out), value))
            elif kind == "code":
                code = self.esc(value)
                out.append(code if plain else f"<code>{code}</code>")
            else:  # a hard line break
                out.append("\n" if plain else _BR)
        if run:
            out.append(self.text("".join(run)))
        return "".join(out)

    def leaf(self, runs: list[Token]) -> str:
        """A leaf block's inline runs, rendered once for both HTML forms."""
        if self.form == "plain":
            return self.inlines(runs)
        rendered = self.memo.get(id(runs))
        if rendered is None:
            rendered = self.memo[id(runs)] = self.inlines(runs)
        return rendered.replace(_BR, self.br) if _BR in rendered else rendered

    def cell_text(self, block: Block) -> str:
        return " ".join(self.leaf(block.inlines).split()) if self.form != "rich" else self.leaf(block.inlines)

    # ---------------------------------------------------------------- blocks

    def block(self, block: Block, indent: str = "") -> str:
        kind = block.kind
        if kind == "p":
            return self.leaf(block.inlines).strip()
        if kind == "h":
            inner = self.leaf(block.inlines).strip()
            if self.form == "rich":
                return f"<h{block.level}>{inner}</h{block.level}>"
            return inner if self.form == "plain" else f"<b>{inner}</b>"
        if kind == "pre":
            code = block.code.rstrip("\n")
            if self.form == "plain":
                return code
            language = re.sub(r"[^\w+#.-]", "", block.language)
            attribute = f' class="language-{language}"' if language else ""
            return f"<pre><code{attribute}>{self.esc(code)}</code></pre>"
        if kind == "quote":
            inner = self.blocks(block.children)
            if self.form == "plain":
                return "\n".join(f"> {line}" for line in inner.split("\n"))
            return f"<blockquote>{inner}</blockquote>"
        if kind in ("ul", "ol"):
            return self.list_block(block, indent)
        if kind == "table":
            return self.table(block)
        if kind == "hr":
            return "<hr>" if self.form == "rich" else "———"
        return self.blocks(block.children)

    def list_block(self, block: Block, indent: str) -> str:
        if self.form == "rich":
            tag = "ol" if block.kind == "ol" else "ul"
            start = f' start="{block.start}"' if block.kind == "ol" and block.start != 1 else ""
            items = "".join(f"<li>{self.blocks(item.children, sep='')}</li>" for item in block.children)
            return f"<{tag}{start}>{items}</{tag}>"
        lines: list[str] = []
        for number, item in enumerate(block.children, start=block.start):
            marker = f"{number}." if block.kind == "ol" else "•"
            body: list[str] = []
            for child in item.children:
                if child.kind in ("ul", "ol"):
                    body.append(self.list_block(child, indent + "    "))
                else:
                    body.append(self.block(child, indent + "    "))
            first, *rest = ("\n".join(body) or " ").split("\n", 1)
            lines.append(f"{indent}{marker} {first}" + (f"\n{rest[0]}" if rest else ""))
        return "\n".join(lines)

    def table(self, block: Block) -> str:
        if self.tagged_table(block):
            return f"<table>{''.join(self.table_row(row) for row in block.children)}</table>"
        # Classic messages have no tables: one line per row, cells apart, the header in bold.
        return "\n".join(self.table_line(row) for row in block.children)

    def tagged_table(self, block: Block) -> bool:
        """Whether this form shows the table as a table (rich, at most 20 columns), not as lines."""
        columns = max((len(row.children) for row in block.children), default=0)
        return self.form == "rich" and columns <= MAX_RICH_TABLE_COLUMNS

    def table_row(self, row: Block) -> str:
        return "<tr>" + "".join(f"<{c.kind}>{self.cell_text(c)}</{c.kind}>" for c in row.children) + "</tr>"

    def table_line(self, row: Block) -> str:
        if self.plain_writer is None:
            self.plain_writer = _Writer("plain", self.policy)
        line = " | ".join(self.plain_writer.cell_text(c) for c in row.children)
        if self.form == "plain":
            return line
        escaped = html.escape(line, quote=False)
        return f"<b>{escaped}</b>" if _is_header(row) else escaped

    def top(self, block: Block) -> str:
        """A top-level block in this form ("" if it shows nothing); a rich paragraph gets its `<p>`."""
        text = self.block(block)
        if not text.strip():
            return ""
        return f"<p>{text}</p>" if self.form == "rich" and block.kind == "p" else text

    def blocks(self, blocks: list[Block], sep: str | None = None) -> str:
        rendered = [self.block(b) for b in blocks]
        joiner = sep if sep is not None else ("" if self.form == "rich" else "\n\n")
        if self.form == "rich":
            rendered = [r if blocks[i].kind != "p" else f"<p>{r}</p>" for i, r in enumerate(rendered)]
        return joiner.join(r for r in rendered if r.strip())


def _is_header(row: Block) -> bool:
    return bool(row.children) and row.children[0].kind == "th"


def rich_block_count(block: Block) -> int:
    """How many blocks Telegram counts in `block`'s rich form: every block, nested ones too, every list
    item and every table row (cells are not counted). A table of more than 20 columns, shown as lines of
    text, is one paragraph. Linear in the block's size."""
    kind = block.kind
    if kind == "table":
        columns = max((len(row.children) for row in block.children), default=0)
        return 1 + len(block.children) if columns <= MAX_RICH_TABLE_COLUMNS else 1
    if kind in _CONTAINERS:
        return 1 + sum(rich_block_count(child) for child in block.children)
    return 1


_CONTAINERS = frozenset({"ul", "ol", "quote", "li"})
# The most a container's own tags take in the rich form: `<blockquote></blockquote>`, `<ol start="…"></ol>`.
_WRAPPER_UNITS = 40


class _Fitter:
    """Cuts a list, quote or table between its items, children or rows into several blocks of its kind,
    each within a block count and a size, measured in the rich writer's output."""

    def __init__(self, writer: _Writer) -> None:
        self.writer = writer

    def units_in(self, parent: Block, child: Block, tagged: bool | None = None) -> int:
        """The UTF-16 units `child` takes inside `parent`'s rich form. For a table's row, `tagged` is
        `writer.tagged_table(parent)` when the caller knows it (it looks at every row: asked per row, a
        table's split was quadratic)."""
        writer = self.writer
        if parent.kind in ("ul", "ol"):
            return units(writer.blocks(child.children, sep="")) + len("<li></li>")
        if parent.kind == "table":
            if writer.tagged_table(parent) if tagged is None else tagged:
                return units(writer.table_row(child))
            return units(writer.table_line(child)) + 1  # the line and its line end
        return units(writer.blocks([child], sep=""))

    def split(self, block: Block, max_blocks: int, max_units: int) -> list[Block]:
        """`block` as one or more blocks of its kind, each within `max_blocks` (as `rich_block_count`
        counts) and `max_units` (UTF-16 units of its rich form) wherever cutting between its children
        can do it. A later part of an ordered list starts at its first item's number; an item cut in two
        starts a new part (its number shown again); each part of a table repeats the header row. A
        leaf (a paragraph, a code block) is never cut here: one over `max_units` is left for the
        caller to cut by characters."""
        if block.kind == "table":
            return self._split_table(block, max_blocks, max_units)
        if block.kind not in _CONTAINERS or not block.children:
            return [block]
        room_blocks, room_units = max_blocks - 1, max_units - _WRAPPER_UNITS
        # (piece, the index of the child it comes from, its blocks, its units)
        entries: list[tuple[Block, int, int, int]] = []
        for index, child in enumerate(block.children):
            count, size = rich_block_count(child), self.units_in(block, child)
            if count <= room_blocks and size <= room_units:
                entries.append((child, index, count, size))
                continue
            for piece in self.split(child, room_blocks, room_units):
                entries.append((piece, index, rich_block_count(piece), self.units_in(block, piece)))
        groups: list[list[tuple[Block, int, int, int]]] = []
        blocks_in = units_in = 0
        for entry in entries:
            _, index, count, size = entry
            if (
                not groups
                or groups[-1][-1][1] == index  # the rest of a child cut in two
                or blocks_in + count > room_blocks
                or units_in + size > room_units
            ):
                groups.append([])
                blocks_in = units_in = 0
            groups[-1].append(entry)
            blocks_in += count
            units_in += size
        return [
            Block(block.kind, children=[piece for piece, *_ in group], start=block.start + group[0][1])
            for group in groups
        ]

    def _split_table(self, block: Block, max_blocks: int, max_units: int) -> list[Block]:
        rows = block.children
        header = rows[:1] if rows and _is_header(rows[0]) else []
        body = rows[len(header) :]
        tagged = self.writer.tagged_table(block)
        room_blocks = max_blocks - 1 - (len(header) if tagged else 0)
        room_units = max_units - _WRAPPER_UNITS - sum(self.units_in(block, row, tagged) for row in header)
        groups: list[list[Block]] = []
        blocks_in = units_in = 0
        for row in body:
            count, size = (1 if tagged else 0), self.units_in(block, row, tagged)
            if not groups or blocks_in + count > room_blocks or units_in + size > room_units:
                groups.append([])
                blocks_in = units_in = 0
            groups[-1].append(row)
            blocks_in += count
            units_in += size
        if len(groups) < 2:
            return [block]
        return [Block("table", children=[*header, *group]) for group in groups]


def render_pairs(
    blocks: list[Block], policy: LinkPolicy, *, max_blocks: int, max_units: int
) -> list[tuple[str, str, int]]:
    """Each top-level block as (rich HTML, classic HTML, the blocks Telegram counts in the rich form).

    A list, quote or table whose rich form is over `max_blocks` blocks (`rich_block_count`) or
    `max_units` UTF-16 units is first cut between its items, children or rows into several blocks of
    its kind (`_Fitter.split`), so that each fits one rich message. Blocks that render empty are dropped.
    Each leaf's inline runs are rendered once for both forms. Linear in the tree's size (a block that
    is cut is measured once more, child by child).
    """
    memo: dict[int, str] = {}
    rich = _Writer("rich", policy, memo)
    classic = _Writer("classic", policy, memo)
    fitter = _Fitter(rich)
    out: list[tuple[str, str, int]] = []
    for block in blocks:
        count = rich_block_count(block)
        rich_html: str | None = None
        pieces = [block]
        splittable = block.kind in _CONTAINERS or block.kind == "table"
        if splittable and count > max_blocks:
            pieces = fitter.split(block, max_blocks, max_units)  # too many blocks: not written whole first
        else:
            rich_html = rich.top(block)
            if splittable and units(rich_html) > max_units:
                pieces = fitter.split(block, max_blocks, max_units)
        for piece in pieces:
            if piece is not block or rich_html is None:
                rich_html, count = rich.top(piece), rich_block_count(piece)
            if rich_html.strip():
                out.append((rich_html, classic.top(piece), count))
    return out


def escape_plain(text: str) -> str:
    """Model text that could not be rendered in time, made safe for parse_mode=HTML."""
    return html.escape(text, quote=False)
