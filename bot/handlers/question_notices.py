"""What an asker sees while a question is in the process: "typing…" and, if it waits, one notice (its
place in line for the model, or when its rate window opens), seen only by the asker in a group and
removed when the reply comes. A constant number of Telegram calls per question, however long it waits
(aiogram's ChatActionSender re-sends "typing" every 5 s, which under load is most of the bot's traffic)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any

from aiogram import Bot
from aiogram.enums import ChatAction
from aiogram_i18n import I18nContext

from bot.delivery.service import AnswerDelivery
from bot.delivery.target import Target

log = logging.getLogger(__name__)


class ChatNotices:
    """The desk's `QuestionNotices` for one question: calls return at once, the sends run as tasks."""

    def __init__(self, bot: Bot, i18n: I18nContext, delivery: AnswerDelivery, target: Target) -> None:
        self._bot = bot
        self._i18n = i18n
        self._delivery = delivery
        self._target = target
        self._sends: list[asyncio.Task[Any]] = []
        self._notices: list[asyncio.Task[Any]] = []  # "in line" replies, removed once answered

    def typing(self) -> None:
        """One "typing…" (Telegram shows it for 5 s or until the bot's next message)."""
        self._send(
            self._bot.send_chat_action(
                self._target.chat_id, ChatAction.TYPING, message_thread_id=self._target.thread_id
            )
        )

    def queued(self, position: int) -> None:
        """The one "you are number N in line" reply."""
        self._notices.append(self._send(self._notice(self._i18n.get("queued-position", position=position))))

    def rate_queued(self, seconds: int) -> None:
        """The one "you ask faster than the rate allows: answered in about N s" reply."""
        self._notices.append(self._send(self._notice(self._i18n.get("user-queued", seconds=seconds))))

    async def clear(self) -> None:
        """Removes the "in line" replies once the question has its answer (or its refusal)."""
        await self.settled()
        for task in self._notices:
            if not task.cancelled() and task.exception() is None:
                await self._delivery.retract(self._bot, self._target, task.result())
        self._notices.clear()

    def _notice(self, text: str) -> Awaitable[Any]:
        # Only the asker sees it in a group (ephemeral), with a normal reply where that is refused.
        return self._delivery.notice(self._bot, self._target, text)

    async def settled(self) -> None:
        """Waits for every send; a failed notice is logged, never fatal to the answer."""
        for outcome in await asyncio.gather(*self._sends, return_exceptions=True):
            if isinstance(outcome, Exception):
                log.warning("a notice was not delivered: %s", outcome)
        self._sends.clear()

    def _send(self, call: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.create_task(_awaited(call))
        self._sends.append(task)
        return task


async def _awaited(call: Awaitable[Any]) -> Any:
    # aiogram's method objects are awaitable but no coroutines, which create_task needs.
    return await call
