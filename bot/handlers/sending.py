"""Sending replies the way Telegram wants them: flood control honoured, HTML with a plain fallback."""

from __future__ import annotations

import asyncio
import logging

from aiogram import Bot
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.exceptions import TelegramBadRequest, TelegramRetryAfter
from aiogram.methods import TelegramMethod
from aiogram.methods.base import Response, TelegramType
from aiogram.types import Message, ReplyParameters

from bot.render.telegram_html import html_to_plain

log = logging.getLogger(__name__)

MAX_RETRY_AFTER_S = 120


class RetryAfterMiddleware(BaseRequestMiddleware):
    """Every Bot API call that gets a 429 waits `retry_after` and is sent again: nothing is dropped."""

    def __init__(self, max_attempts: int = 5) -> None:
        self._max_attempts = max_attempts

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        for attempt in range(1, self._max_attempts + 1):
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as exc:
                if attempt == self._max_attempts or exc.retry_after > MAX_RETRY_AFTER_S:
                    raise
                log.warning("flood control on %s: waiting %s s", type(method).__name__, exc.retry_after)
                await asyncio.sleep(exc.retry_after)
        raise AssertionError("unreachable: the loop returns or raises")


def _is_parse_error(exc: TelegramBadRequest) -> bool:
    return "parse entities" in exc.message or "can't parse" in exc.message.lower()


async def reply_html(message: Message, parts: list[str]) -> list[Message]:
    """Replies with each HTML part (to the asking message, in its topic); plain text if HTML is refused."""
    sent: list[Message] = []
    for index, part in enumerate(parts):
        # Only the first part quotes the question; the rest follow it in the same thread.
        reply = (
            ReplyParameters(message_id=message.message_id, allow_sending_without_reply=True)
            if index == 0
            else None
        )
        try:
            sent.append(await message.answer(part, parse_mode="HTML", reply_parameters=reply))
        except TelegramBadRequest as exc:
            if not _is_parse_error(exc):
                raise
            log.warning("Telegram rejected our HTML (%s); sending plain text", exc.message)
            sent.append(await message.answer(html_to_plain(part), parse_mode=None, reply_parameters=reply))
    return sent
