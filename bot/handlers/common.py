"""/start, /help, /reset."""

from __future__ import annotations

import html
from datetime import UTC, datetime

from aiogram import Bot, F, Router
from aiogram.enums import ChatType
from aiogram.filters import JOIN_TRANSITION, ChatMemberUpdatedFilter, Command, CommandStart
from aiogram.types import ChatMemberUpdated, Message
from aiogram_i18n import I18nContext

from bot.config import Settings
from bot.handlers.context import GROUP_TYPES, admin_or_refuse, in_group, message_from_admin, thread_of
from bot.helpdesk.admins import AdminDirectory
from bot.helpdesk.onboarding import KnowledgeOverview, OnboardingService
from bot.rag.answering import AnsweringService


def router() -> Router:
    r = Router(name="common")

    @r.message(CommandStart(), F.chat.type == ChatType.PRIVATE)
    async def start(
        message: Message, bot: Bot, i18n: I18nContext, admins: AdminDirectory, onboarding: OnboardingService
    ) -> None:
        name = message.from_user.first_name if message.from_user else ""
        overview = await onboarding.overview(message.chat.id)
        admin = await message_from_admin(message, bot, admins)
        # An admin sees the base's state and the next step; everyone sees what there is to ask about.
        parts = [i18n.get("start", name=html.escape(name)), knowledge_text(overview, i18n, admin=admin)]
        await message.answer("\n\n".join(parts))

    @r.my_chat_member(ChatMemberUpdatedFilter(JOIN_TRANSITION), F.chat.type.in_(GROUP_TYPES))
    async def added_to_group(event: ChatMemberUpdated, bot: Bot, i18n: I18nContext) -> None:
        # The first thing a group sees: how to address the bot, since it stays silent otherwise.
        me = await bot.me()
        await bot.send_message(event.chat.id, i18n.get("help-group", bot=f"@{me.username}"))

    # In a group, /start (the menu, or a "start in group" link) gets the group's help, not silence.
    @r.message(CommandStart(), F.chat.type.in_(GROUP_TYPES))
    @r.message(Command("help"))
    async def help_(
        message: Message,
        bot: Bot,
        i18n: I18nContext,
        settings: Settings,
        admins: AdminDirectory,
        onboarding: OnboardingService,
    ) -> None:
        me = await bot.me()
        group = in_group(message.chat)
        text = i18n.get("help-group", bot=f"@{me.username}") if group else i18n.get("help")
        # Examples come from the documents this chat really reads, not from a fixed list.
        overview = await onboarding.overview(message.chat.id)
        text += "\n\n" + topics_text(overview, i18n)
        if await message_from_admin(message, bot, admins):
            admin_help = "help-group-admin" if group else "help-admin"
            text += "\n\n" + i18n.get(admin_help, max_mb=settings.max_upload_mb)
        await message.reply(text)

    @r.message(Command("reset"))
    async def reset(
        message: Message, bot: Bot, i18n: I18nContext, answering: AnsweringService, admins: AdminDirectory
    ) -> None:
        # A group's conversation is shared: only its admins may wipe it.
        if in_group(message.chat) and not await admin_or_refuse(message, bot, admins, i18n):
            return
        await answering.forget(message.chat.id, thread_of(message))
        await message.reply(i18n.get("reset-done"))

    return r


def topics_text(overview: KnowledgeOverview, i18n: I18nContext) -> str:
    """Up to three document titles to ask about, or that the base is still empty."""
    if not overview.topics:
        return i18n.get("empty-base")
    topics = "\n".join(f"• {html.escape(title)}" for title in overview.topics)
    return i18n.get("kb-topics", topics=topics, first=html.escape(overview.topics[0]))


def knowledge_text(overview: KnowledgeOverview, i18n: I18nContext, *, admin: bool) -> str:
    """For admins the base's state and the next step; for everyone else the topics."""
    if not admin:
        return topics_text(overview, i18n)
    if overview.latest is None:
        return i18n.get("empty-base-admin")
    added = datetime.fromtimestamp(overview.latest.uploaded_at, UTC).strftime("%Y-%m-%d")
    return i18n.get(
        "kb-state", count=overview.documents, title=html.escape(overview.latest.title), date=added
    )
