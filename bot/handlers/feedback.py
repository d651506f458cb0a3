"""👍/👎 under answers, "ask a human" after a 👎, and /feedback: the ratings as a CSV file for admins."""

from __future__ import annotations

import html
import logging
from datetime import UTC, datetime

from aiogram import Bot, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command
from aiogram.types import BufferedInputFile, CallbackQuery, Message, ReplyParameters
from aiogram_i18n import I18nContext

from bot.handlers.context import admin_or_refuse, in_group
from bot.handlers.keyboards import Vote, feedback_keyboard
from bot.handlers.sending import unchanged_is_fine
from bot.helpdesk.admins import AdminDirectory
from bot.helpdesk.button_signing import ButtonSigner
from bot.helpdesk.feedback import Escalation, FeedbackService

log = logging.getLogger(__name__)


def router() -> Router:
    r = Router(name="feedback")

    @r.callback_query(Vote.filter())
    async def vote(
        query: CallbackQuery,
        callback_data: Vote,
        bot: Bot,
        i18n: I18nContext,
        feedback: FeedbackService,
        admins: AdminDirectory,
        signer: ButtonSigner,
    ) -> None:
        message = query.message
        if not isinstance(message, Message):
            await query.answer(i18n.get("button-expired"), show_alert=True)
            return
        # The answer must have been given in the chat where its button was pressed (stored record).
        chat_id = message.chat.id
        if callback_data.action == "human":
            escalation = await feedback.escalate(callback_data.answer_id, chat_id)
            if escalation is None:
                await query.answer(i18n.get("button-expired"), show_alert=True)
            elif not escalation.first:
                await query.answer(i18n.get("human-already"), show_alert=True)
            else:
                await query.answer(await _call_humans(bot, escalation, admins, i18n), show_alert=True)
            return
        if callback_data.action not in ("up", "down"):
            await query.answer(i18n.get("button-expired"), show_alert=True)
            return
        stored = await feedback.rate(
            callback_data.answer_id,
            chat_id,
            query.from_user.id,
            query.from_user.full_name,
            "up" if callback_data.action == "up" else "down",
        )
        if not stored:
            await query.answer(i18n.get("button-expired"), show_alert=True)
            return
        if callback_data.action == "down":
            # The answer did not help: offer a person (one button for the whole chat).
            markup = feedback_keyboard(
                callback_data.answer_id,
                chat_id,
                signer,
                offer_human=True,
                human_label=i18n.get("human-button"),
            )
            with unchanged_is_fine():
                await message.edit_reply_markup(reply_markup=markup)
        await query.answer(i18n.get("feedback-thanks"))

    @r.message(Command("feedback"))
    async def export(
        message: Message, bot: Bot, i18n: I18nContext, feedback: FeedbackService, admins: AdminDirectory
    ) -> None:
        if not await admin_or_refuse(message, bot, admins, i18n):
            return
        # A group's admins see their group; global admins in a private chat see every chat.
        data, count = await feedback.export_csv(message.chat.id if in_group(message.chat) else None)
        if count == 0:
            await message.reply(i18n.get("feedback-empty"))
            return
        stamp = datetime.now(tz=UTC).strftime("%Y%m%d-%H%M")
        await message.reply_document(
            BufferedInputFile(data, filename=f"feedback-{stamp}.csv"),
            caption=i18n.get("feedback-export", count=count),
        )

    return r


async def _call_humans(bot: Bot, escalation: Escalation, admins: AdminDirectory, i18n: I18nContext) -> str:
    """Mentions the group's admins under the question, or messages the global admins; says what it did."""
    asked = escalation.asked
    asker = _user_link(asked.asker_id, asked.asker_name)
    if asked.chat_id < 0:
        people = [
            m.user
            for m in await bot.get_chat_administrators(asked.chat_id)
            if not m.user.is_bot and not getattr(m, "is_anonymous", False)
        ]
        if not people:
            return i18n.get("human-nobody")
        mentions = ", ".join(_user_link(user.id, user.full_name) for user in people)
        await bot.send_message(
            asked.chat_id,
            i18n.get("human-group-call", admins=mentions, asker=asker),
            message_thread_id=asked.thread_id,
            reply_parameters=ReplyParameters(message_id=asked.message_id, allow_sending_without_reply=True),
        )
        return i18n.get("human-called")
    text = i18n.get(
        "human-private-call",
        asker=asker,
        question=html.escape(escalation.question),
        answer=html.escape(escalation.answer[:1500]) or "—",
    )
    reached = 0
    for admin_id in sorted(admins.global_admins):
        try:
            await bot.send_message(admin_id, text)
            reached += 1
        except TelegramAPIError as exc:  # an admin who never started the bot can't be messaged
            log.warning("could not reach admin %s: %s", admin_id, exc)
    return i18n.get("human-called") if reached else i18n.get("human-nobody")


def _user_link(user_id: int | None, name: str) -> str:
    safe = html.escape(name)
    return f'<a href="tg://user?id={user_id}">{safe}</a>' if user_id else safe
