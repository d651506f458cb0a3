"""UI texts with Fluent (aiogram-i18n): the locale follows the user's Telegram language."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiogram.types import Chat, User
from aiogram_i18n import I18nMiddleware
from aiogram_i18n.cores import FluentRuntimeCore
from aiogram_i18n.managers import BaseManager

from bot.domain import ChatPreferences
from bot.helpdesk.preferences import ChatPreferencesService
from bot.rag.language import locale_language

LOCALES_DIR = Path(__file__).parent / "locales"
LOCALES = ("en", "ru")
DEFAULT_LOCALE = "en"


class TelegramLanguageManager(BaseManager):
    """The interface language: the chat's chosen answer language (/settings) when it has one, else
    the user's Telegram language (aiogram-i18n's stock manager ignores language_code).

    aiogram-i18n passes workflow data by parameter name: `chat_preferences` are the chat's settings
    read for this update (bot.handlers.chat_preferences), `preferences` the service the composition
    root gave the dispatcher (either may be absent in bare test dispatchers).
    """

    async def get_locale(
        self,
        event_from_user: User | None = None,
        event_chat: Chat | None = None,
        preferences: ChatPreferencesService | None = None,
        chat_preferences: ChatPreferences | None = None,
        **_: Any,
    ) -> str:
        if chat_preferences is None and event_chat is not None and preferences is not None:
            chat_preferences = await preferences.get(event_chat.id)
        if chat_preferences is not None and chat_preferences.language != "auto":
            return chat_preferences.language
        return locale_language(event_from_user.language_code if event_from_user else None)

    async def set_locale(self, *_: Any, **__: Any) -> None:
        # The locale is never stored: it always follows the user's client language.
        return None


def create_i18n_core() -> FluentRuntimeCore:
    return FluentRuntimeCore(path=LOCALES_DIR / "{locale}", default_locale=DEFAULT_LOCALE)


def create_i18n_middleware(core: FluentRuntimeCore | None = None) -> I18nMiddleware:
    return I18nMiddleware(
        core=core or create_i18n_core(), manager=TelegramLanguageManager(), default_locale=DEFAULT_LOCALE
    )
