"""Bot API calls, measured: a session middleware that counts 429s and times the sends."""

from __future__ import annotations

import time

from aiogram import Bot
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.exceptions import TelegramRetryAfter
from aiogram.methods import (
    EditMessageReplyMarkup,
    EditMessageText,
    SendDocument,
    SendMessage,
    TelegramMethod,
)
from aiogram.methods.base import Response, TelegramType

from bot.telemetry import metrics

_SENT_METHODS = (SendMessage, SendDocument, EditMessageText, EditMessageReplyMarkup)


class TelegramCallMetrics(BaseRequestMiddleware):
    """Counts flood-control refusals and times message sends; the innermost session middleware, so it
    sees every attempt the retry middleware makes."""

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        started = time.monotonic()
        try:
            response = await make_request(bot, method)
        except TelegramRetryAfter:
            metrics.TELEGRAM_429.labels(method=type(method).__name__).inc()
            raise
        if isinstance(method, _SENT_METHODS):
            metrics.STAGE_SECONDS.labels(stage="send").observe(time.monotonic() - started)
        return response
