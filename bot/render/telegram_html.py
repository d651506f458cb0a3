"""Splitting HTML the bot composed itself (lists, reports) into 4,096-character messages."""

from __future__ import annotations

from bot.render.splitting import split_html

TELEGRAM_LIMIT = 4096


def split_for_telegram(html_text: str, limit: int = TELEGRAM_LIMIT) -> list[str]:
    """Splits on paragraph or line boundaries, never inside a tag or an entity, closing open tags."""
    return split_html(html_text, limit)
