"""The question journal: a question is kept (in Redis) from its arrival until it is settled, so one
interrupted by a shutdown (SIGTERM in the middle of a model call) is answered after the restart.

A question is settled when its handler finishes (answered, refused, throttled or silent) or when its
answer is handed to the outbox (bot/delivery/outbox.py saves the delivery and settles the question in
one transaction). Only an interruption by shutdown leaves it in the journal; `replay` then feeds the
original update through the dispatcher again at the next start.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from aiogram import BaseMiddleware, Bot, Dispatcher
from aiogram.types import Message, TelegramObject, Update

from bot.cancellation import cancel_and_wait
from bot.delivery.outbox import question_key

log = logging.getLogger(__name__)


class JournalRecords(Protocol):
    async def journal_question(self, key: str, update_json: str) -> None: ...
    async def settle_question(self, key: str) -> None: ...
    async def unanswered_questions(self) -> dict[str, str]: ...


class QuestionJournal:
    """Keeps questions until settled; on shutdown interrupts the ones in progress and keeps them."""

    def __init__(self, records: JournalRecords) -> None:
        self._records = records
        self._running: set[asyncio.Task[Any]] = set()
        self._closing = False

    async def handle(self, message: Message, update: Update, answer: Callable[[], Awaitable[Any]]) -> Any:
        key = question_key(message.chat.id, message.message_id)
        await self._records.journal_question(key, update.model_dump_json(exclude_unset=True))
        task = asyncio.current_task()
        if task is not None:
            self._running.add(task)
        try:
            result = await answer()
        except BaseException:
            if not self._closing:  # a failure is reported to the user by the error handler
                await self._records.settle_question(key)
            raise
        finally:
            if task is not None:
                self._running.discard(task)
        await self._records.settle_question(key)
        return result

    async def interrupt(self) -> None:
        """At shutdown: questions still being answered stay in the journal for the next start."""
        self._closing = True
        await cancel_and_wait(list(self._running))

    async def replay(self, dp: Dispatcher, bot: Bot, **data: Any) -> int:
        """Answers the questions a previous run left unanswered; returns how many it replayed."""
        pending = await self._records.unanswered_questions()
        for key, raw in pending.items():
            try:
                update = Update.model_validate_json(raw)
            except ValueError:
                log.exception("dropping unreadable journaled question %s", key)
                await self._records.settle_question(key)
                continue
            log.info("answering question %s, interrupted by the last shutdown", key)
            # `replayed_question`: the handler knows it may find its own reaction from the last run.
            await dp.feed_update(bot, update, **{**data, "replayed_question": True})
        return len(pending)


class JournalMiddleware(BaseMiddleware):
    """Inner middleware of the question routers: journals each question for its handler's duration.
    Uses the `question_journal` from workflow data; without one it only passes the event on."""

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        journal: QuestionJournal | None = data.get("question_journal")
        update: Update | None = data.get("event_update")
        if journal is None or update is None or not isinstance(event, Message):
            return await handler(event, data)
        return await journal.handle(event, update, lambda: handler(event, data))
