"""Sending parts: the primary method, then its fallbacks on a 400; which path works is remembered.

A Bot API server older than 10.1 (a self-hosted `telegram-bot-api`) answers `sendRichMessage` with
404 "method not found" or a 400: from then on this process sends classic messages first.
"""

from __future__ import annotations

import logging
from typing import Any

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest, TelegramNotFound
from aiogram.methods import SendRichMessage, SendRichMessageDraft

from bot.delivery.parts import Method, OutgoingPart

log = logging.getLogger(__name__)


class RichSupport:
    """Per process: do rich messages work on this Bot API server? Unknown until the first try."""

    def __init__(self, enabled: bool = True) -> None:
        self._enabled = enabled
        self._works: bool | None = None

    @property
    def usable(self) -> bool:
        return self._enabled and self._works is not False

    def worked(self) -> None:
        self._works = True

    def refused(self, reason: str) -> None:
        if self._works is not False:
            log.warning("the Bot API server refuses rich messages (%s); sending classic messages", reason)
        self._works = False


def _method_missing(exc: Exception) -> bool:
    text = str(exc).lower()
    return isinstance(exc, TelegramNotFound) or "method not found" in text or "unknown method" in text


async def send_part(bot: Bot, part: OutgoingPart, rich: RichSupport) -> list[Any]:
    """Sends one part; returns what Telegram returned for each message that went out.

    Raises the last error when the primary method and every fallback were refused, and any error that
    is not a refusal of the content (429s are retried below this, by the session's middleware).
    """
    alternatives: list[list[Method]] = [[part.primary], *part.fallbacks]
    error: Exception | None = None
    for methods in alternatives:
        if not methods:
            continue
        is_rich = isinstance(methods[0], SendRichMessage | SendRichMessageDraft)
        if is_rich and not rich.usable:
            continue
        try:
            results = [await bot(method) for method in methods]
        except (TelegramBadRequest, TelegramNotFound) as exc:
            error = exc
            if is_rich:
                if _method_missing(exc):
                    rich.refused(str(exc))
                else:
                    log.warning("a rich message was refused (%s); trying the next form", exc)
            else:
                log.warning("%s was refused (%s); trying the next form", type(methods[0]).__name__, exc)
            continue
        if is_rich:
            rich.worked()
        return results
    assert error is not None
    raise error


async def send_parts(bot: Bot, parts: list[OutgoingPart], rich: RichSupport) -> list[Any]:
    """Sends every part in order; returns all sent messages."""
    sent: list[Any] = []
    for part in parts:
        sent.extend(await send_part(bot, part, rich))
    return sent
