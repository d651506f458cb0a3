"""UI texts with Fluent (aiogram-i18n): the locale follows the user's Telegram language."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiogram.types import User
from aiogram_i18n import I18nMiddleware
from aiogram_i18n.cores import FluentRuntimeCore
from aiogram_i18n.managers import BaseManager

from bot.rag.language import locale_language

LOCALES_DIR = Path(__file__).parent / "locales"
LOCALES = ("en", "ru")
DEFAULT_LOCALE = "en"


class TelegramLanguageManager(BaseManager):
    """aiogram-i18n's stock manager ignores language_code; this one reads it from the user."""

    async def get_locale(self, event_from_user: User | None = None, **_: Any) -> str:
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
