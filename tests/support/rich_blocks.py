"""Rich messages sent as blocks (`InputRichMessage.blocks`, Bot API 10.1), checked as Telegram would.

`read_blocks` takes the JSON the bot sent and either raises `BlocksError` (a 400 on the real server:
an unknown block or rich-text type, a required field missing or of the wrong kind, a reference link
whose `reference_name` names no reference of the same message, or over the limits the HTML form has:
32,768 characters, 500 blocks, 16 levels of nesting, 20 table columns) or returns what the user
sees (`visible`) and the same content written as HTML the way our renderer writes the rich form
(`html`), so tests that read an answer's HTML read either form the same way: a reference link is its
text ("[1]"), a list item that is one reference (a source line) is `<li>` + its text.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

MAX_LENGTH = 32768
MAX_BLOCKS = 500
MAX_DEPTH = 16
MAX_TABLE_COLUMNS = 20

# Rich texts with a `text` field: their HTML tag ("" for none: shown as their text).
_TEXT_STYLES = {
    "bold": "b",
    "italic": "i",
    "underline": "u",
    "strikethrough": "s",
    "spoiler": "tg-spoiler",
    "subscript": "sub",
    "superscript": "sup",
    "marked": "mark",
    "code": "code",
    "url": "a",
    "reference": "",
    "reference_link": "",
    "anchor_link": "",
    "email_address": "",
    "phone_number": "",
    "bank_card_number": "",
    "mention": "",
    "hashtag": "",
    "cashtag": "",
    "bot_command": "",
    "date_time": "",
    "text_mention": "",
}
# Each rich-text type's required fields besides `type` and `text`, and their JSON kinds.
_TEXT_FIELDS: dict[str, dict[str, type | tuple[type, ...]]] = {
    "url": {"url": str},
    "reference": {"name": str},
    "reference_link": {"reference_name": str},
    "anchor_link": {"anchor_name": str},
    "email_address": {"email_address": str},
    "phone_number": {"phone_number": str},
    "bank_card_number": {"bank_card_number": str},
    "mention": {"username": str},
    "hashtag": {"hashtag": str},
    "cashtag": {"cashtag": str},
    "bot_command": {"bot_command": str},
    "date_time": {"unix_time": int, "date_time_format": str},
    "text_mention": {"user": dict},
}
# Rich texts without a `text` field, and their required fields.
_OTHER_TEXTS: dict[str, dict[str, type | tuple[type, ...]]] = {
    "anchor": {"name": str},
    "custom_emoji": {"custom_emoji_id": str, "alternative_text": str},
    "mathematical_expression": {"expression": str},
}
_ALIGN = frozenset({"left", "center", "right"})
_VALIGN = frozenset({"top", "middle", "bottom"})
_LABEL_TYPES = frozenset({"a", "A", "i", "I", "1"})


class BlocksError(Exception):
    """What Telegram would answer with a 400 ("Bad Request: …")."""


@dataclass
class BlocksView:
    visible: str
    html: str


@dataclass
class _Walk:
    visible: list[str] = field(default_factory=list)
    blocks: int = 0
    references: set[str] = field(default_factory=set)
    links: list[str] = field(default_factory=list)


def read_blocks(blocks: Any) -> BlocksView:
    """Checks `rich_message.blocks` (decoded JSON) as the Bot API would; see the module docstring."""
    if not isinstance(blocks, list) or not blocks:
        raise BlocksError("blocks must be a non-empty array")
    walk = _Walk()
    markup = _blocks(walk, blocks, 1)
    visible = "".join(walk.visible)
    if len(visible) > MAX_LENGTH:
        raise BlocksError("RICH_MESSAGE_TOO_LONG")
    if walk.blocks > MAX_BLOCKS:
        raise BlocksError("too many blocks in the rich message")
    missing = sorted(set(walk.links) - walk.references)
    if missing:
        raise BlocksError(f"reference {missing[0]!r} not found in the message")
    if not visible.strip():
        raise BlocksError("message text is empty")
    return BlocksView(visible=visible, html=markup)


def objects_in(node: Any) -> list[dict[str, Any]]:
    """Every JSON object inside `node` (blocks, items, cells, rich texts), by an explicit stack."""
    found: list[dict[str, Any]] = []
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            found.append(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def _need(obj: dict[str, Any], name: str, kind: type | tuple[type, ...], where: str) -> Any:
    value = obj.get(name)
    if value is None:
        raise BlocksError(f"field {name!r} of {where} is required")
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise BlocksError(f"field {name!r} of {where} has a wrong type")
    return value


def _depth(depth: int) -> None:
    if depth > MAX_DEPTH:
        raise BlocksError("rich message is nested too deeply")


def _blocks(walk: _Walk, blocks: Any, depth: int) -> str:
    if not isinstance(blocks, list):
        raise BlocksError("blocks must be an array")
    out = []
    for block in blocks:
        out.append(_block(walk, block, depth))
        walk.visible.append("\n")
    return "".join(out)


def _block(walk: _Walk, block: Any, depth: int) -> str:
    _depth(depth)
    if not isinstance(block, dict) or not isinstance(block.get("type"), str):
        raise BlocksError("a block must be an object with a type")
    walk.blocks += 1
    kind = block["type"]
    where = f"block {kind!r}"
    if kind in ("paragraph", "footer"):
        tag = "p" if kind == "paragraph" else "footer"
        return f"<{tag}>{_text(walk, _need(block, 'text', (str, list, dict), where), depth + 1)}</{tag}>"
    if kind == "heading":
        size = _need(block, "size", int, where)
        if not 1 <= size <= 6:
            raise BlocksError("heading size must be 1-6")
        return f"<h{size}>{_text(walk, _need(block, 'text', (str, list, dict), where), depth + 1)}</h{size}>"
    if kind == "pre":
        language = block.get("language")
        if language is not None and not isinstance(language, str):
            raise BlocksError("field 'language' of block 'pre' has a wrong type")
        code = _text(walk, _need(block, "text", (str, list, dict), where), depth + 1, pre=True)
        attribute = f' class="language-{html.escape(language)}"' if language else ""
        return f"<pre><code{attribute}>{code}</code></pre>"
    if kind == "divider":
        return "<hr>"
    if kind == "anchor":
        _need(block, "name", str, where)
        return ""
    if kind == "mathematical_expression":
        expression = _need(block, "expression", str, where)
        walk.visible.append(expression)
        return html.escape(expression, quote=False)
    if kind == "list":
        return _list(walk, _need(block, "items", list, where), depth)
    if kind == "blockquote":
        inner = _blocks(walk, _need(block, "blocks", list, where), depth + 1)
        if block.get("credit") is not None:
            inner += _text(walk, block["credit"], depth + 1)
        return f"<blockquote>{inner}</blockquote>"
    if kind in ("expandable_blockquote", "pullquote", "thinking"):
        inner = _text(walk, _need(block, "text", (str, list, dict), where), depth + 1)
        return f"<blockquote>{inner}</blockquote>"
    if kind == "details":
        summary = _text(walk, _need(block, "summary", (str, list, dict), where), depth + 1)
        walk.visible.append("\n")
        inner = _blocks(walk, _need(block, "blocks", list, where), depth + 1)
        return f"<details><summary>{summary}</summary>{inner}</details>"
    if kind == "table":
        return _table(walk, block, depth)
    # Media, maps, buttons, collages: real block types this bot never sends; not modelled here.
    raise BlocksError(f"unsupported block type {kind!r}")


def _part(walk: _Walk, value: Any, kind: type, depth: int, error: str) -> None:
    """A list item or a table row: a level of nesting and a block, as `<li>` and `<tr>` are in HTML."""
    _depth(depth)
    if not isinstance(value, kind):
        raise BlocksError(error)
    walk.blocks += 1


def _list(walk: _Walk, items: list[Any], depth: int) -> str:
    if not items:
        raise BlocksError("a list must have items")
    values = []
    out = []
    for item in items:
        _part(walk, item, dict, depth + 1, "a list item must be an object")
        value, label = item.get("value"), item.get("type")
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise BlocksError("field 'value' of a list item has a wrong type")
        if label is not None and label not in _LABEL_TYPES:
            raise BlocksError("field 'type' of a list item must be one of a, A, i, I, 1")
        values.append(value)
        blocks = _need(item, "blocks", list, "a list item")
        if len(blocks) == 1 and isinstance(blocks[0], dict) and _is_reference_paragraph(blocks[0]):
            # A source line: written as our renderer writes it, <li> and the line.
            walk.blocks += 1
            out.append(f"<li>{_text(walk, blocks[0]['text'], depth + 2)}</li>")
            walk.visible.append("\n")
        else:
            out.append(f"<li>{_blocks(walk, blocks, depth + 2)}</li>")
    ordered = any(v is not None for v in values)
    first = values[0]
    start = f' start="{first}"' if ordered and first is not None and first != 1 else ""
    tag = "ol" if ordered else "ul"
    return f"<{tag}{start}>{''.join(out)}</{tag}>"


def _is_reference_paragraph(block: dict[str, Any]) -> bool:
    text = block.get("text")
    return block.get("type") == "paragraph" and isinstance(text, dict) and text.get("type") == "reference"


def _table(walk: _Walk, block: dict[str, Any], depth: int) -> str:
    rows = _need(block, "cells", list, "block 'table'")
    out = []
    for row in rows:
        _part(walk, row, list, depth + 1, "table cells must be an array of arrays")
        columns = 0
        cells = []
        for cell in row:
            _depth(depth + 2)
            if not isinstance(cell, dict):
                raise BlocksError("a table cell must be an object")
            if _need(cell, "align", str, "a table cell") not in _ALIGN:
                raise BlocksError("field 'align' of a table cell must be left, center or right")
            if _need(cell, "valign", str, "a table cell") not in _VALIGN:
                raise BlocksError("field 'valign' of a table cell must be top, middle or bottom")
            span = cell.get("colspan", 1)
            if not isinstance(span, int) or isinstance(span, bool) or span < 1:
                raise BlocksError("field 'colspan' of a table cell has a wrong type")
            columns += span
            text = _text(walk, cell["text"], depth + 3) if cell.get("text") is not None else ""
            walk.visible.append(" ")
            tag = "th" if cell.get("is_header") is True else "td"
            cells.append(f"<{tag}>{text}</{tag}>")
        if columns > MAX_TABLE_COLUMNS:
            raise BlocksError("too many table columns")
        out.append(f"<tr>{''.join(cells)}</tr>")
    if block.get("caption") is not None:
        _text(walk, block["caption"], depth + 1)
    return f"<table>{''.join(out)}</table>"


def _text(walk: _Walk, text: Any, depth: int, *, pre: bool = False) -> str:
    """A rich text (a string, an array of rich texts, or a typed object) → its HTML; records what shows."""
    if isinstance(text, str):
        walk.visible.append(text)
        escaped = html.escape(text, quote=False)
        return escaped if pre else escaped.replace("\n", "<br>")
    if isinstance(text, list):
        return "".join(_text(walk, part, depth, pre=pre) for part in text)
    _depth(depth)
    if not isinstance(text, dict) or not isinstance(text.get("type"), str):
        raise BlocksError("a rich text must be a string, an array or an object with a type")
    kind = text["type"]
    where = f"rich text {kind!r}"
    if kind in _OTHER_TEXTS:
        for name, value_kind in _OTHER_TEXTS[kind].items():
            _need(text, name, value_kind, where)
        shown = text.get("alternative_text") or text.get("expression") or ""
        walk.visible.append(shown)
        return html.escape(shown, quote=False)
    if kind not in _TEXT_STYLES:
        raise BlocksError(f"unsupported rich text type {kind!r}")
    for name, value_kind in _TEXT_FIELDS.get(kind, {}).items():
        _need(text, name, value_kind, where)
    if kind == "reference":
        if text["name"] in walk.references:
            raise BlocksError(f"reference {text['name']!r} is defined twice")
        walk.references.add(text["name"])
    elif kind == "reference_link":
        walk.links.append(text["reference_name"])
    inner = _text(walk, _need(text, "text", (str, list, dict), where), depth + 1, pre=pre)
    tag = _TEXT_STYLES[kind]
    if not tag:
        return inner
    if tag == "a":
        return f'<a href="{html.escape(text["url"], quote=True)}">{inner}</a>'
    return f"<{tag}>{inner}</{tag}>"
