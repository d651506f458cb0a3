"""/start, /help, /reset."""

from __future__ import annotations

import html

from aiogram import F, Router
from aiogram.enums import ChatType
from aiogram.filters import Command, CommandStart
from aiogram.types import Message
from aiogram_i18n import I18nContext

from bot.config import Settings
from bot.handlers.context import is_admin, thread_of
from bot.rag.answering import AnsweringService


def router() -> Router:
    r = Router(name="common")
    r.message.filter(F.chat.type == ChatType.PRIVATE)

    @r.message(CommandStart())
    async def start(message: Message, i18n: I18nContext) -> None:
        name = message.from_user.first_name if message.from_user else ""
        await message.answer(i18n.get("start", name=html.escape(name)))

    @r.message(Command("help"))
    async def help_(message: Message, i18n: I18nContext, settings: Settings) -> None:
        text = i18n.get("help")
        if is_admin(message, settings):
            text += "\n\n" + i18n.get("help-admin", max_mb=settings.max_upload_mb)
        await message.answer(text)

    @r.message(Command("reset"))
    async def reset(message: Message, i18n: I18nContext, answering: AnsweringService) -> None:
        await answering.forget(message.chat.id, thread_of(message))
        await message.answer(i18n.get("reset-done"))

    return r
