"""Questions → grounded answers with numbered sources: every text in private chats; in groups only
what is addressed to the bot (/ask, an @mention, a reply to the bot)."""

from __future__ import annotations

import contextlib
import html
import logging
from typing import Any

from aiogram import Bot, F, Router
from aiogram.enums import ChatType, MessageEntityType
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, CommandObject, Filter
from aiogram.types import Message, ReactionTypeCustomEmoji, ReactionTypeEmoji, ReactionTypePaid
from aiogram.utils.chat_action import ChatActionSender
from aiogram.utils.text_decorations import add_surrogates, remove_surrogates
from aiogram_i18n import I18nContext

from bot.config import Settings
from bot.domain import LLMUnavailableError
from bot.handlers.context import GROUP_TYPES, in_group, message_from_admin, speaker_name, thread_of
from bot.handlers.keyboards import feedback_keyboard
from bot.handlers.sending import reply_html
from bot.helpdesk.admins import AdminDirectory
from bot.helpdesk.desk import Answered, Chitchat, EmptyBase, Question, QuestionDesk
from bot.helpdesk.limits import Throttled
from bot.rag.language import locale_language
from bot.render.telegram_html import SourceLabels, SourceLine, answer_messages_html

log = logging.getLogger(__name__)


class AddressedToBot(Filter):
    """A group message that mentions the bot or replies to one of its messages; yields the question."""

    async def __call__(self, message: Message, bot: Bot) -> bool | dict[str, Any]:
        text = message.text
        if not text or text.startswith("/"):
            return False
        me = await bot.me()  # cached by aiogram after the first call
        replied = message.reply_to_message
        # In forum topics every message "replies" to the topic's first message: that is no address.
        if (
            replied is not None
            and replied.from_user is not None
            and replied.from_user.id == me.id
            and replied.forum_topic_created is None
        ):
            return {"question": text.strip()}
        mention = f"@{me.username}".lower() if me.username else None
        for entity in message.entities or []:
            addressed = (
                entity.type == MessageEntityType.MENTION and entity.extract_from(text).lower() == mention
            ) or (
                entity.type == MessageEntityType.TEXT_MENTION
                and entity.user is not None
                and entity.user.id == me.id
            )
            if addressed:
                # Entity offsets count UTF-16 units; aiogram's surrogate helpers cut on the same grid.
                units = add_surrogates(text)
                cut = units[: entity.offset * 2] + units[(entity.offset + entity.length) * 2 :]
                return {"question": " ".join(remove_surrogates(cut).split()).strip(" ,:")}
        return False


def router() -> Router:
    r = Router(name="questions")

    private = Router(name="private-questions")
    private.message.filter(F.chat.type == ChatType.PRIVATE)

    @private.message(F.text, ~F.text.startswith("/"))
    async def ask_private(
        message: Message,
        bot: Bot,
        i18n: I18nContext,
        desk: QuestionDesk,
        settings: Settings,
        admins: AdminDirectory,
    ) -> None:
        await _answer(message, (message.text or "").strip(), bot, i18n, desk, settings, admins)

    @private.message(F.text.startswith("/"))
    async def unknown_command(message: Message, i18n: I18nContext) -> None:
        await message.answer(i18n.get("unknown-command"))

    @private.message(~F.document)
    async def not_text(message: Message, i18n: I18nContext) -> None:
        await message.answer(i18n.get("not-a-question"))

    group = Router(name="group-questions")
    group.message.filter(F.chat.type.in_(GROUP_TYPES))

    @group.message(Command("ask"))
    async def ask_command(
        message: Message,
        command: CommandObject,
        bot: Bot,
        i18n: I18nContext,
        desk: QuestionDesk,
        settings: Settings,
        admins: AdminDirectory,
    ) -> None:
        question = (command.args or "").strip()
        replied = message.reply_to_message
        if not question and replied is not None and replied.forum_topic_created is None and replied.text:
            question = replied.text.strip()  # "/ask" in reply to someone's message asks that message
        if not question:
            await message.reply(i18n.get("ask-usage"))
            return
        await _answer(message, question, bot, i18n, desk, settings, admins)

    @group.message(AddressedToBot())
    async def addressed(
        message: Message,
        question: str,
        bot: Bot,
        i18n: I18nContext,
        desk: QuestionDesk,
        settings: Settings,
        admins: AdminDirectory,
    ) -> None:
        if not question:
            await message.reply(i18n.get("ask-usage"))
            return
        await _answer(message, question, bot, i18n, desk, settings, admins)

    # Anything else in a group is people talking to each other: no handler, no reply, no LLM call.
    r.include_routers(private, group)
    return r


async def _answer(
    message: Message,
    question: str,
    bot: Bot,
    i18n: I18nContext,
    desk: QuestionDesk,
    settings: Settings,
    admins: AdminDirectory,
) -> None:
    if not question:
        await message.answer(i18n.get("not-a-question"))
        return
    if len(question) > settings.max_question_chars:
        await message.reply(
            i18n.get("question-too-long", length=len(question), limit=settings.max_question_chars)
        )
        return
    asked = Question(
        text=question,
        chat_id=message.chat.id,
        thread_id=thread_of(message),
        message_id=message.message_id,
        user_id=message.from_user.id if message.from_user else message.chat.id,
        speaker=speaker_name(message),
        in_group=in_group(message.chat),
        ui_language=locale_language(i18n.locale),
    )

    notices: list[Message] = []  # "in line" notices, removed once the question has its reply

    async def tell_queued() -> None:
        notices.append(await message.reply(i18n.get("queued")))

    async def tell_user_queued(seconds: int) -> None:
        notices.append(await message.reply(i18n.get("user-queued", seconds=seconds)))

    # 👀 on the question while it is worked on, so "typing…" never ends in nothing.
    await _react(message, WORKING)
    try:
        async with ChatActionSender.typing(
            bot=bot, chat_id=message.chat.id, message_thread_id=thread_of(message)
        ):
            outcome = await desk.handle(
                asked, on_wait=tell_queued, bot_names=await _bot_names(bot), on_queued=tell_user_queued
            )
        done = await _reply_to_outcome(message, outcome, asked, bot, i18n, admins)
    except LLMUnavailableError:
        await message.reply(i18n.get("llm-unavailable"))
        done = None
    await _react(message, done)
    for notice in notices:
        with contextlib.suppress(TelegramBadRequest):
            await notice.delete()


async def _reply_to_outcome(
    message: Message,
    outcome: Answered | Throttled | Chitchat | EmptyBase,
    asked: Question,
    bot: Bot,
    i18n: I18nContext,
    admins: AdminDirectory,
) -> str | None:
    """Replies as the outcome needs; returns the reaction the question keeps (None: no reaction)."""
    if isinstance(outcome, Chitchat):
        await message.reply(i18n.get(f"smalltalk-{outcome.kind}", outcome.language))
        return None
    if isinstance(outcome, EmptyBase):
        admin = await message_from_admin(message, bot, admins)
        key = ("empty-base-group-admin" if asked.in_group else "empty-base-admin") if admin else "empty-base"
        await message.reply(i18n.get(key, outcome.language))
        return None
    if isinstance(outcome, Throttled):
        if not outcome.notify:
            return REFUSED  # the window's notice was already given: a reaction says "not now"
        if outcome.kind == "chat":
            await message.reply(i18n.get("rate-limited-group", seconds=outcome.wait_s))
        else:
            await message.reply(i18n.get("rate-limited", seconds=outcome.wait_s, waiting=outcome.waiting))
        return None
    if not outcome.answer.found and asked.in_group and not outcome.preferences.reply_not_found:
        return NOTHING_FOUND  # this group prefers silence over "not found": a shrug, not a message
    await reply_html(message, render_answer(outcome, i18n), reply_markup=feedback_keyboard(outcome.answer_id))
    return None


# Reactions a bot may set are a fixed list (Bot API, ReactionTypeEmoji); these three are on it.
WORKING = "👀"
NOTHING_FOUND = "🤷"
REFUSED = "😴"


async def _react(message: Message, emoji: str | None) -> None:
    """Sets (or with None clears) the bot's reaction on the question; chats may forbid reactions."""
    reaction: list[ReactionTypeEmoji | ReactionTypeCustomEmoji | ReactionTypePaid] = (
        [ReactionTypeEmoji(emoji=emoji)] if emoji else []
    )
    with contextlib.suppress(TelegramBadRequest):
        await message.react(reaction)


async def _bot_names(bot: Bot) -> frozenset[str]:
    me = await bot.me()  # cached by aiogram after the first call
    return frozenset(name.lower() for name in (me.username, me.first_name) if name)


def render_answer(outcome: Answered, i18n: I18nContext) -> list[str]:
    # Answer-side texts follow the answer's language, not the user's interface language.
    answer = outcome.answer
    lang = answer.language
    if not answer.found:
        return [html.escape(i18n.get("not-found", lang))]
    sources = (
        [
            SourceLine(number=c.number, title=c.title, file_name=c.file_name, page=c.page, section=c.section)
            for c in answer.citations
        ]
        if outcome.preferences.show_sources
        else []
    )
    labels = SourceLabels(heading=i18n.get("sources-heading", lang), page=i18n.get("page-label", lang))
    return answer_messages_html(answer.text, sources, labels)
