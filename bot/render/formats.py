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
        rows = [row.children for row in block.children]
        columns = max((len(row) for row in rows), default=0)
        if self.form == "rich" and columns <= MAX_RICH_TABLE_COLUMNS:
            body = "".join(
                "<tr>" + "".join(f"<{c.kind}>{self.cell_text(c)}</{c.kind}>" for c in row) + "</tr>"
                for row in rows
            )
            return f"<table>{body}</table>"
        # Classic messages have no tables: one line per row, cells apart, the header in bold.
        plain_writer = _Writer("plain", self.policy)
        lines: list[str] = []
        for row in rows:
            cells = [plain_writer.cell_text(c) for c in row]
            line = " | ".join(cells)
            header = bool(row) and row[0].kind == "th"
            if self.form == "plain":
                lines.append(line)
            else:
                escaped = html.escape(line, quote=False)
                lines.append(f"<b>{escaped}</b>" if header else escaped)
        return "\n".join(lines)

    def blocks(self, blocks: list[Block], sep: str | None = None) -> str:
        rendered = [self.block(b) for b in blocks]
        joiner = sep if sep is not None else ("" if self.form == "rich" else "\n\n")
        if self.form == "rich":
            rendered = [r if blocks[i].kind != "p" else f"<p>{r}</p>" for i, r in enumerate(rendered)]
        return joiner.join(r for r in rendered if r.strip())


def render_blocks(
    blocks: list[Block], form: Form, policy: LinkPolicy, memo: dict[int, str] | None = None
) -> list[str]:
    """Each top-level block in the given form (one string per block, empty blocks dropped).

    `memo`: pass the same dict when rendering one tree in both HTML forms; each leaf's inline runs are
    then rendered once (rich and classic differ only in line breaks and block tags).
    """
    writer = _Writer(form, policy, memo)
    out: list[str] = []
    for block in blocks:
        text = writer.block(block)
        if not text.strip():
            continue
        if form == "rich" and block.kind == "p":
            text = f"<p>{text}</p>"
        out.append(text)
    return out


def escape_plain(text: str) -> str:
    """Model text that could not be rendered in time, made safe for parse_mode=HTML."""
    return html.escape(text, quote=False)
