"""Model Markdown → Telegram HTML messages: converted safely, sources appended, split at 4,096."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass

from chatgpt_md_converter import split_html_for_telegram, telegram_format

TELEGRAM_LIMIT = 4096


@dataclass(frozen=True)
class SourceLine:
    number: int
    title: str
    file_name: str
    page: int | None
    section: str | None


@dataclass(frozen=True)
class SourceLabels:
    heading: str  # "Sources" / "Источники"
    page: str  # "p." / "стр."


def markdown_to_html(markdown: str) -> str:
    """Telegram-safe HTML (only the tags Telegram accepts, every <, > and & escaped)."""
    return str(telegram_format(markdown)).strip()


def sources_html(sources: Sequence[SourceLine], labels: SourceLabels) -> str:
    lines = [f"<b>{html.escape(labels.heading)}</b>"]
    for source in sources:
        parts = [f"<b>{html.escape(source.title)}</b>"]
        where = []
        if source.file_name and source.file_name != source.title:
            where.append(html.escape(source.file_name))
        if source.page is not None:
            where.append(f"{html.escape(labels.page)} {source.page}")
        if source.section and source.section != source.title:
            where.append(html.escape(source.section))
        if where:
            parts.append(" — " + ", ".join(where))
        lines.append(f"{source.number}. {''.join(parts)}")
    return "\n".join(lines)


def split_for_telegram(html_text: str, limit: int = TELEGRAM_LIMIT) -> list[str]:
    """Splits on paragraph boundaries, never inside a tag or an entity, closing open tags."""
    if len(html_text) <= limit:
        return [html_text]
    return [part for part in split_html_for_telegram(html_text, max_length=limit) if part.strip()]


def answer_messages_html(markdown: str, sources: Sequence[SourceLine], labels: SourceLabels) -> list[str]:
    body = markdown_to_html(markdown)
    if sources:
        body = f"{body}\n\n{sources_html(sources, labels)}"
    return split_for_telegram(body)


_TAG_RE = re.compile(r"<[^>]+>")


def html_to_plain(html_text: str) -> str:
    """The fallback when Telegram still rejects the HTML: same words, no markup."""
    return html.unescape(_TAG_RE.sub("", html_text))
