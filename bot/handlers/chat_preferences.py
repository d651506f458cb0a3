"""The chat's /settings, read once per update and handed to whoever needs them on the way.

The interface language (aiogram-i18n's locale getter) and the question desk both read them; for a
question that was two Redis round trips for the same hash. This outer middleware reads them once
and puts them in aiogram's workflow data as `chat_preferences`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import Chat, TelegramObject

from bot.helpdesk.preferences import ChatPreferencesService


class ChatPreferencesMiddleware(BaseMiddleware):
    """Update outer middleware: `data["chat_preferences"]` is the event chat's `ChatPreferences`.

    Registered after aiogram's UserContextMiddleware (which sets `event_chat`) and before the i18n
    middleware. Updates with no chat, or a dispatcher with no `preferences` service, get nothing and
    readers fall back to their own read. A setting changed during the update shows from the next one.
    """

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        chat: Chat | None = data.get("event_chat")
        preferences: ChatPreferencesService | None = data.get("preferences")
        if chat is not None and preferences is not None:
            data["chat_preferences"] = await preferences.get(chat.id)
        return await handler(event, data)
