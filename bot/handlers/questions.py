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
from aiogram.utils.text_decorations import add_surrogates, remove_surrogates
from aiogram_i18n import I18nContext

from bot.config import Settings
from bot.delivery.outbox import Delivery, Outbox
from bot.domain import LLMUnavailableError
from bot.handlers.context import GROUP_TYPES, in_group, message_from_admin, speaker_name, thread_of
from bot.handlers.keyboards import feedback_keyboard
from bot.handlers.question_journal import JournalMiddleware
from bot.handlers.question_notices import ChatNotices
from bot.handlers.sending import html_part
from bot.helpdesk.admins import AdminDirectory
from bot.helpdesk.button_signing import ButtonSigner
from bot.helpdesk.desk import Answered, Chitchat, EmptyBase, Question, QuestionDesk
from bot.helpdesk.limits import Throttled
from bot.helpdesk.model_queue import Busy
from bot.rag.answering import history_memo
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
    # Each question is journaled until settled, so a shutdown mid-answer is answered after the restart.
    r.message.middleware(JournalMiddleware())

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
        signer: ButtonSigner,
        outbox: Outbox,
    ) -> None:
        text = (message.text or "").strip()
        await _answer(message, text, bot, i18n, desk, settings, admins, signer, outbox)

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
        signer: ButtonSigner,
        outbox: Outbox,
    ) -> None:
        question = (command.args or "").strip()
        replied = message.reply_to_message
        if not question and replied is not None and replied.forum_topic_created is None and replied.text:
            question = replied.text.strip()  # "/ask" in reply to someone's message asks that message
        if not question:
            await message.reply(i18n.get("ask-usage"))
            return
        await _answer(message, question, bot, i18n, desk, settings, admins, signer, outbox)

    @group.message(AddressedToBot())
    async def addressed(
        message: Message,
        question: str,
        bot: Bot,
        i18n: I18nContext,
        desk: QuestionDesk,
        settings: Settings,
        admins: AdminDirectory,
        signer: ButtonSigner,
        outbox: Outbox,
    ) -> None:
        if not question:
            await message.reply(i18n.get("ask-usage"))
            return
        await _answer(message, question, bot, i18n, desk, settings, admins, signer, outbox)

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
    signer: ButtonSigner,
    outbox: Outbox,
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

    notices = ChatNotices(message, bot, i18n)
    # 👀 on the question while it is worked on, so "typing…" never ends in nothing.
    await _react(message, WORKING)
    try:
        outcome = await desk.handle(asked, notices, bot_names=await _bot_names(bot))
        done = await _reply_to_outcome(message, outcome, asked, bot, i18n, admins, signer, outbox)
    except LLMUnavailableError:
        await message.reply(i18n.get("llm-unavailable"))
        done = None
    await _react(message, done)
    await notices.clear()


async def _reply_to_outcome(
    message: Message,
    outcome: Answered | Throttled | Busy | Chitchat | EmptyBase,
    asked: Question,
    bot: Bot,
    i18n: I18nContext,
    admins: AdminDirectory,
    signer: ButtonSigner,
    outbox: Outbox,
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
    if isinstance(outcome, Busy):
        await message.reply(i18n.get("line-full", waiting=outcome.waiting, seconds=outcome.retry_after_s))
        return None
    if not outcome.answer.found and asked.in_group and not outcome.preferences.reply_not_found:
        return NOTHING_FOUND  # this group prefers silence over "not found": a shrug, not a message
    # The outbox keeps the answer until Telegram accepted it; history gets it only then (issue 12).
    chat_id = message.chat.id
    await outbox.deliver(
        bot,
        Delivery(
            chat_id=chat_id,
            thread_id=asked.thread_id,
            reply_to=message.message_id,
            parts=[html_part(chat_id, part) for part in render_answer(outcome, i18n)],
            keyboard=feedback_keyboard(outcome.answer_id, chat_id, signer),
            receipt={
                "chat_id": chat_id,
                "thread_id": asked.thread_id,
                "question": asked.text,
                "memo": history_memo(outcome.answer),
                "speaker": asked.speaker if asked.in_group else None,
            },
        ),
    )
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
    text = answer.text
    if answer.cut_off:
        # Never shown as complete: the model stopped at LLM_MAX_TOKENS (issue 12).
        text += "\n\n" + i18n.get("answer-cut-off", lang)
    return answer_messages_html(text, sources, labels)
