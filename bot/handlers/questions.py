"""Questions → grounded answers with numbered sources: every text in private chats; in groups only
what is addressed to the bot (/ask, an @mention, a reply to the bot)."""

from __future__ import annotations

import html
import logging
from typing import Any

from aiogram import Bot, F, Router
from aiogram.enums import ChatType, MessageEntityType
from aiogram.filters import Command, CommandObject, Filter
from aiogram.types import Message
from aiogram.utils.chat_action import ChatActionSender
from aiogram.utils.text_decorations import add_surrogates, remove_surrogates
from aiogram_i18n import I18nContext

from bot.config import Settings
from bot.delivery.outbox import Delivery, Outbox
from bot.domain import LLMUnavailableError
from bot.handlers.context import GROUP_TYPES, in_group, speaker_name, thread_of
from bot.handlers.keyboards import feedback_keyboard
from bot.handlers.question_journal import JournalMiddleware
from bot.handlers.sending import html_part
from bot.helpdesk.button_signing import ButtonSigner
from bot.helpdesk.desk import Answered, Question, QuestionDesk
from bot.helpdesk.limits import Throttled
from bot.rag.answering import history_memo
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
        signer: ButtonSigner,
        outbox: Outbox,
    ) -> None:
        await _answer(message, (message.text or "").strip(), bot, i18n, desk, settings, signer, outbox)

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
        await _answer(message, question, bot, i18n, desk, settings, signer, outbox)

    @group.message(AddressedToBot())
    async def addressed(
        message: Message,
        question: str,
        bot: Bot,
        i18n: I18nContext,
        desk: QuestionDesk,
        settings: Settings,
        signer: ButtonSigner,
        outbox: Outbox,
    ) -> None:
        if not question:
            await message.reply(i18n.get("ask-usage"))
            return
        await _answer(message, question, bot, i18n, desk, settings, signer, outbox)

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
    )

    async def tell_queued() -> None:
        await message.reply(i18n.get("queued"))

    try:
        async with ChatActionSender.typing(
            bot=bot, chat_id=message.chat.id, message_thread_id=thread_of(message)
        ):
            outcome = await desk.handle(asked, on_wait=tell_queued)
    except LLMUnavailableError:
        await message.reply(i18n.get("llm-unavailable"))
        return
    if isinstance(outcome, Throttled):
        if outcome.notify:
            await message.reply(i18n.get("rate-limited", seconds=outcome.wait_s))
        return
    if not outcome.answer.found and asked.in_group and not outcome.preferences.reply_not_found:
        return  # this group prefers silence over "not found"
    # The outbox keeps the answer until Telegram accepted it; history gets it only then (issue 12).
    chat_id = message.chat.id
    await outbox.deliver(
        bot,
        Delivery(
            chat_id=chat_id,
            thread_id=thread_of(message),
            reply_to=message.message_id,
            parts=[html_part(chat_id, part) for part in render_answer(outcome, i18n)],
            keyboard=feedback_keyboard(outcome.answer_id, chat_id, signer),
            receipt={
                "chat_id": chat_id,
                "thread_id": asked.thread_id,
                "question": question,
                "memo": history_memo(outcome.answer),
                "speaker": asked.speaker if asked.in_group else None,
            },
        ),
    )


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
