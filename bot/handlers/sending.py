"""Sending replies the way Telegram wants them: flood control honoured, HTML with a plain fallback."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from typing import Any, Protocol

from aiogram import Bot
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.exceptions import TelegramBadRequest, TelegramRetryAfter
from aiogram.methods import (
    EditMessageReplyMarkup,
    EditMessageText,
    SendDocument,
    SendMessage,
    TelegramMethod,
)
from aiogram.methods.base import Response, TelegramType

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


class KeptResponseModels(BaseRequestMiddleware):
    """Holds aiogram's `Response[...]` model of every method called, so pydantic never rebuilds one.

    aiogram parses each reply as `Response[method.__returning__]`, a parametrized pydantic model, and
    pydantic 2.13 caches those in a WeakValueDictionary only: once nothing refers to one, the next
    call builds it again (10-30 ms of schema work for `list[Update]` or `Message`). Measured under
    load: ~5 % of the bot's CPU, mostly rebuilding getUpdates' model between polls (issue 9).
    """

    def __init__(self) -> None:
        self._kept: dict[type[Any], Any] = {}

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        kind = type(method)
        if kind not in self._kept:
            self._kept[kind] = Response[method.__returning__]  # type: ignore[name-defined]
        return await make_request(bot, method)


class ChatPacer(Protocol):
    async def wait_turn(self, chat_id: int) -> float: ...


# What counts against Telegram's per-group message budget.
_PACED_METHODS = (SendMessage, SendDocument, EditMessageText, EditMessageReplyMarkup)


class GroupPacingMiddleware(BaseRequestMiddleware):
    """Keeps each group within its message budget by waiting for a turn (shared through Redis)."""

    def __init__(self, pacer: ChatPacer) -> None:
        self._pacer = pacer

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        chat_id = getattr(method, "chat_id", None)
        # Group and supergroup ids are negative; private chats have their own, looser limit.
        if isinstance(method, _PACED_METHODS) and isinstance(chat_id, int) and chat_id < 0:
            waited = await self._pacer.wait_turn(chat_id)
            if waited:
                log.info("paced %s in chat %s by %.1f s", type(method).__name__, chat_id, waited)
        return await make_request(bot, method)


@contextlib.contextmanager
def unchanged_is_fine() -> Iterator[None]:
    """Telegram refuses an edit that changes nothing (a double tap, a repeated stage): that is no error."""
    try:
        yield
    except TelegramBadRequest as exc:
        if "not modified" not in exc.message:
            raise
