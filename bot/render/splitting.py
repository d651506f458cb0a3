"""Cutting our own well-formed HTML (or plain text) into messages that fit Telegram's length limits.

Cuts go at the best boundary inside the limit (a blank line, then a line end, then a space, then
anywhere between two characters) and never inside a tag or an entity such as `&amp;`. Tags open at a
cut are closed at the end of one part and opened again at the start of the next, so every part is
valid on its own. Each cut is found with C-level string searches (`rfind`) within one message's
window, so the whole split is linear in the input's length.
"""

from __future__ import annotations

import re

_TAG_RE = re.compile(r"(<(/?)([a-zA-Z][a-zA-Z0-9-]*)[^<>]*>)")
_PAIR_RE = re.compile(r"<([a-zA-Z][a-zA-Z0-9-]*)\b[^<>]*>[^<]*</\1>")
_VOID_TAG_RE = re.compile(r"<(?:br|hr)\b[^<>]*>|<[^<>]*/>", re.IGNORECASE)
_PAIR_PASSES = 32  # deeper nesting is left to the loop over tags
# Something visible: a character that is neither whitespace nor inside a tag (our text has no raw <, >).
_VISIBLE_RE = re.compile(r"(?:^|>)\s*[^<\s]")
_VOID = frozenset({"br", "hr"})
# How far before a cut the open tags are remembered (characters): more than any part's closers.
_RETRY_MARGIN = 1024

# Boundaries in order of preference: a blank line, a line end, a space (the cut goes after it).
_SEPARATORS = ("\n\n", "\n", " ")

Stack = tuple[tuple[str, str], ...]  # open tags: (name, opening tag)


def units(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units (an emoji outside the BMP counts twice)."""
    return len(text) if text.isascii() else len(text.encode("utf-16-le")) >> 1


def _closers(stack: Stack) -> str:
    return "".join(f"</{name}>" for name, _ in reversed(stack))


def _openers(stack: Stack) -> str:
    return "".join(tag for _, tag in stack)


def _stack_after(html: str, start: int, end: int, stack: Stack) -> Stack:
    """The open tags at `end`, given those open at `start` (void and self-closing tags never open)."""
    if html.find("<", start, end) == -1:  # plain text (classic parts of a giant block): no tags
        return stack
    open_tags = list(stack)
    # Innermost pairs (`<b>x</b>`, `<p>…</p>` once emptied) open nothing: C-level passes remove them,
    # one per nesting level, so the loop below sees only the few tags that matter.
    segment = html[start:end]
    lowered = segment.lower()
    if "/>" in segment or "<br" in lowered or "<hr" in lowered:  # else the pass finds nothing: skip it
        segment = _VOID_TAG_RE.sub("", segment)
    for _ in range(_PAIR_PASSES):
        reduced = _PAIR_RE.sub("", segment)
        if len(reduced) == len(segment):
            break
        segment = reduced
    for tag, closing, name in _TAG_RE.findall(segment):
        if closing:
            if open_tags and open_tags[-1][0] == name.lower():
                open_tags.pop()
        elif name.lower() not in _VOID and not tag.endswith("/>"):
            open_tags.append((name.lower(), tag))
    return tuple(open_tags)


def _safe_cut(html: str, start: int, end: int) -> int:
    """`end`, moved back so that it falls outside any tag and any entity such as `&amp;`."""
    lt = html.rfind("<", start, end)
    if lt > html.rfind(">", start, end):
        end = lt
    amp = html.rfind("&", start, end)
    if amp >= 0 and amp > html.rfind(";", start, end):
        semi = html.find(";", amp, amp + 12)
        if semi != -1 and semi >= end and " " not in html[amp:semi]:
            end = amp
    return end


def _best_cut(html: str, start: int, end: int) -> int:
    """The best boundary in html[start:end]: after the last blank line, line end or space outside a
    tag; else the end itself, moved out of a tag or an entity. Always > start when possible."""
    for separator in _SEPARATORS:
        at = html.rfind(separator, start, end)
        while at > start:
            # A space inside a tag (`<a href="…">`, `<code class="…">`) is not a boundary.
            if html.rfind("<", start, at) <= html.rfind(">", start, at):
                return at + len(separator)
            at = html.rfind(separator, start, html.rfind("<", start, at))
    cut = _safe_cut(html, start, end)
    return cut if cut > start else end


def split_html(html: str, limit: int) -> list[str]:
    """Well-formed HTML → parts of at most `limit` UTF-16 units each, every part well-formed.

    Void tags (`<br>`, `<hr>`) are the only unpaired tags expected. Parts that would hold only
    whitespace are dropped. Each part costs a few C-level string scans of its own length, so the whole
    is linear in the input's size.
    """
    if units(html) <= limit:
        return [html] if html.strip() else []
    parts: list[str] = []
    stack: Stack = ()
    pos = 0
    total = len(html)
    while pos < total:
        openers = _openers(stack)
        # UTF-16 units are never fewer than characters: only a short enough rest is measured.
        if len(openers) + total - pos <= limit and units(openers + html[pos:]) <= limit:
            parts.append(openers + html[pos:])  # the input closes what is open
            break
        room = limit - units(openers)
        end = min(total, pos + room)
        # The open tags at the end of a tag a little before the first cut: when the closers make the
        # part too long, the next try scans only from there (our HTML's `>` only ever ends a tag).
        resume, resume_stack = pos, stack
        while True:
            cut = _best_cut(html, pos, end)
            if resume == pos:
                mark = html.rfind(">", pos, max(pos, cut - _RETRY_MARGIN)) + 1
                if mark > pos:
                    resume, resume_stack = mark, _stack_after(html, pos, mark, stack)
            if cut >= resume:
                after = _stack_after(html, resume, cut, resume_stack)
            else:
                after = _stack_after(html, pos, cut, stack)
            head = openers + html[pos:cut] + _closers(after)
            excess = units(head) - limit
            if excess <= 0 or cut - pos <= 1:
                break
            end = max(pos + 1, min(end, cut) - excess)
        parts.append(head)
        pos, stack = cut, after
    return [part for part in parts if _VISIBLE_RE.search(part)]


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
