"""Per-member fairness for commands and button presses (issue 12).

Questions have their own limits (bot/helpdesk/limits.py); this outer middleware meters everything
else a member can make the bot do: a command (any message starting with "/", except /ask, which is a
question) or a button press. Over the rate, a command gets one "please wait" reply per window and
then silence; a press always gets its (free, private) callback answer, since Telegram's clients wait
for one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import CallbackQuery, Message, TelegramObject
from aiogram_i18n import I18nContext

from bot.helpdesk.limits import ActionLimiter

_QUESTION_COMMANDS = frozenset({"ask"})


def _command(message: Message) -> str | None:
    """The command's name ("help" for "/help@bot args"), or None for a message that is no command."""
    text = message.text or message.caption or ""
    if not text.startswith("/"):
        return None
    return text[1:].split(maxsplit=1)[0].partition("@")[0].lower() if len(text) > 1 else ""


def _actor(event: Message | CallbackQuery) -> int:
    if isinstance(event, CallbackQuery):
        return event.from_user.id
    if event.sender_chat is not None:  # anonymous admins and channels post as a chat
        return event.sender_chat.id
    return event.from_user.id if event.from_user else event.chat.id


class ActionLimits(BaseMiddleware):
    """Outer middleware for messages and callback queries; `limiter` is shared by every replica."""

    def __init__(self, limiter: ActionLimiter) -> None:
        self._limiter = limiter

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        if isinstance(event, Message):
            command = _command(event)
            if command is None or command in _QUESTION_COMMANDS:
                return await handler(event, data)
        elif not isinstance(event, CallbackQuery):
            return await handler(event, data)
        throttled = await self._limiter.check(_actor(event))
        if throttled is None:
            return await handler(event, data)
        i18n: I18nContext | None = data.get("i18n")
        text = i18n.get("actions-limited", seconds=throttled.wait_s) if i18n else None
        if isinstance(event, CallbackQuery):
            await event.answer(text)
        elif throttled.notify and text:
            await event.reply(text)
        return None
