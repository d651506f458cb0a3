"""Questions in private chats → grounded answers with numbered sources."""

from __future__ import annotations

import html

from aiogram import Bot, F, Router
from aiogram.enums import ChatType
from aiogram.types import Message
from aiogram.utils.chat_action import ChatActionSender
from aiogram_i18n import I18nContext

from bot.config import Settings
from bot.domain import LLMUnavailableError
from bot.handlers.context import thread_of
from bot.handlers.sending import reply_html
from bot.rag.answering import Answer, AnsweringService
from bot.render.telegram_html import SourceLabels, SourceLine, answer_messages_html


def router() -> Router:
    r = Router(name="questions")
    r.message.filter(F.chat.type == ChatType.PRIVATE)

    @r.message(F.text, ~F.text.startswith("/"))
    async def ask(
        message: Message, bot: Bot, i18n: I18nContext, answering: AnsweringService, settings: Settings
    ) -> None:
        question = (message.text or "").strip()
        if not question:
            await message.answer(i18n.get("not-a-question"))
            return
        if len(question) > settings.max_question_chars:
            await message.answer(
                i18n.get("question-too-long", length=len(question), limit=settings.max_question_chars)
            )
            return
        try:
            async with ChatActionSender.typing(
                bot=bot, chat_id=message.chat.id, message_thread_id=thread_of(message)
            ):
                answer = await answering.answer(
                    question, chat_id=message.chat.id, thread_id=thread_of(message)
                )
        except LLMUnavailableError:
            await message.answer(i18n.get("llm-unavailable"))
            return
        await reply_html(message, render_answer(answer, i18n))

    @r.message(F.text.startswith("/"))
    async def unknown_command(message: Message, i18n: I18nContext) -> None:
        await message.answer(i18n.get("unknown-command"))

    @r.message(~F.document)
    async def not_text(message: Message, i18n: I18nContext) -> None:
        await message.answer(i18n.get("not-a-question"))

    return r


def render_answer(answer: Answer, i18n: I18nContext) -> list[str]:
    # Answer-side texts follow the question's language, not the user's interface language.
    lang = answer.language
    if not answer.found:
        return [html.escape(i18n.get("not-found", lang))]
    sources = [
        SourceLine(number=c.number, title=c.title, file_name=c.file_name, page=c.page, section=c.section)
        for c in answer.citations
    ]
    labels = SourceLabels(heading=i18n.get("sources-heading", lang), page=i18n.get("page-label", lang))
    return answer_messages_html(answer.text, sources, labels)
