"""Cutting our own well-formed HTML (or plain text) into messages that fit Telegram's length limits.

Cuts go at the best boundary inside the limit (a blank line, then a line end, then a space, then
anywhere between two characters) and never inside a tag or an entity such as `&amp;`. Tags open at a
cut are closed at the end of one part and opened again at the start of the next, so every part is
valid on its own. One pass over the tokens: linear in the input's length.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_TOKEN_RE = re.compile(r"<[^<>]*>|&#?\w+;|\n\n|\n| |[^<&\n ]{1,64}|.", re.DOTALL)
_TAG_NAME_RE = re.compile(r"</?([a-zA-Z][a-zA-Z0-9-]*)")

_PRIORITY = {"\n\n": 3, "\n": 2, " ": 1}


def units(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units (an emoji outside the BMP counts twice)."""
    return len(text) if text.isascii() else len(text.encode("utf-16-le")) >> 1


@dataclass
class _Break:
    index: int  # cut before tokens[index] of the current part
    priority: int
    stack: tuple[tuple[str, str], ...]  # open tags at that point: (name, opening tag)


def _closers(stack: tuple[tuple[str, str], ...] | list[tuple[str, str]]) -> str:
    return "".join(f"</{name}>" for name, _ in reversed(stack))


def _openers(stack: tuple[tuple[str, str], ...] | list[tuple[str, str]]) -> str:
    return "".join(tag for _, tag in stack)


def split_html(html: str, limit: int) -> list[str]:
    """Well-formed HTML → parts of at most `limit` UTF-16 units each, every part well-formed.

    Void tags (`<br>`, `<hr>`) are the only unpaired tags expected. Parts that would hold only
    whitespace are dropped.
    """
    if units(html) <= limit:
        return [html] if html.strip() else []
    parts: list[str] = []
    current: list[str] = []
    sizes: list[int] = []
    size = 0
    stack: list[tuple[str, str]] = []
    breaks: list[_Break] = []

    def cut() -> None:
        nonlocal current, sizes, size, breaks
        usable = [b for b in breaks if b.index > 0]
        best = max(usable, key=lambda b: (b.priority, b.index)) if usable else None
        at = best.index if best is not None else len(current)
        at_stack = best.stack if best is not None else tuple(stack)
        head = "".join(current[:at]) + _closers(at_stack)
        if head.strip():
            parts.append(head)
        tail = current[at:]
        tail_sizes = sizes[at:]
        reopen = _openers(at_stack)
        current = [reopen, *tail] if reopen else list(tail)
        sizes = [units(reopen), *tail_sizes] if reopen else list(tail_sizes)
        shift = at - (1 if reopen else 0)
        breaks = [_Break(b.index - shift, b.priority, b.stack) for b in breaks if b.index > at]
        size = sum(sizes)

    stack_t: tuple[tuple[str, str], ...] = ()
    closing_size = 0  # units needed to close what is open
    for match in _TOKEN_RE.finditer(html):
        token = match.group(0)
        token_size = units(token)
        is_tag = token[0] == "<" and len(token) > 1
        after_t = stack_t
        if is_tag:
            found = _TAG_NAME_RE.match(token)
            name = found.group(1).lower() if found else ""
            if name and not token.endswith("/>") and name not in ("br", "hr"):
                if token.startswith("</"):
                    if after_t and after_t[-1][0] == name:
                        after_t = after_t[:-1]
                else:
                    after_t = (*after_t, (name, token))
            closing_size = units(_closers(after_t))
        if current and size + token_size + closing_size > limit:
            cut()
            while current and size + token_size + closing_size > limit and breaks:
                cut()
        if token in _PRIORITY:
            breaks.append(_Break(len(current) + 1, _PRIORITY[token], after_t))
        elif not is_tag and token[0] != "&" and current:
            # Between two words' pieces of a long word: the cut of last resort.
            breaks.append(_Break(len(current), 0, stack_t))
        current.append(token)
        sizes.append(token_size)
        size += token_size
        stack_t = after_t
        stack[:] = after_t
    tail = "".join(current) + _closers(stack)
    if tail.strip():
        parts.append(tail)
    return [part for part in parts if _visible(part).strip()]


def _visible(html: str) -> str:
    return re.sub(r"<[^<>]*>", "", html)


def split_plain(text: str, limit: int) -> list[str]:
    """Plain text → parts of at most `limit` UTF-16 units, cut at paragraph, line, then word ends."""
    parts: list[str] = []
    rest = text.strip()
    while units(rest) > limit:
        window = rest[:limit]
        while units(window) > limit:
            window = window[:-1]
        at = -1
        for separator in ("\n\n", "\n", " "):
            at = window.rfind(separator)
            if at > 0:
                break
        at = at if at > 0 else len(window)
        parts.append(rest[:at].rstrip())
        rest = rest[at:].lstrip()
    if rest:
        parts.append(rest)
    return [part for part in parts if part]
