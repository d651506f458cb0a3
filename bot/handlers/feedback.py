"""👍/👎 under answers, "ask a human" after a 👎, and /feedback: the ratings as a CSV file for admins."""

from __future__ import annotations

import html
import logging
from datetime import UTC, datetime
from typing import Any

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command
from aiogram.types import BufferedInputFile, CallbackQuery, Message, ReplyParameters
from aiogram_i18n import I18nContext

from bot.cpu import run_cpu_within
from bot.handlers.context import admin_or_refuse, admin_press, in_group, is_chat_admin
from bot.handlers.keyboards import TakeHandOff, Vote, feedback_keyboard, take_keyboard
from bot.handlers.sending import unchanged_is_fine
from bot.helpdesk.admins import AdminDirectory
from bot.helpdesk.button_signing import ButtonSigner
from bot.helpdesk.feedback import Escalation, FeedbackService, HandOff
from bot.render.answer import render_answer

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
                reached = await _hand_off(
                    bot, escalation, callback_data.answer_id, admins, i18n, feedback, signer
                )
                await query.answer(i18n.get("human-called" if reached else "human-nobody"), show_alert=True)
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

    @r.callback_query(TakeHandOff.filter())
    async def take(
        query: CallbackQuery,
        callback_data: TakeHandOff,
        bot: Bot,
        i18n: I18nContext,
        feedback: FeedbackService,
        admins: AdminDirectory,
    ) -> None:
        message = await admin_press(query, bot, admins, i18n)
        if message is None:
            return
        result = await feedback.take(
            callback_data.chat_id,
            callback_data.answer_id,
            message.chat.id,
            message.message_id,
            query.from_user.id,
            query.from_user.full_name,
        )
        if result is None:
            await query.answer(i18n.get("button-expired"), show_alert=True)
            return
        if not result.taken:
            await query.answer(
                i18n.get("handoff-already-taken", admin=result.handoff.taken_by or "—"), show_alert=True
            )
            return
        await _show_taken(bot, result.handoff, i18n)
        await _tell_asker(bot, result.handoff, i18n)
        await query.answer(i18n.get("handoff-you-took"), show_alert=True)

    # An admin's reply to a hand-off message: the bot passes it on to the asker.
    @r.message(F.reply_to_message, _reply_to_handoff)
    async def pass_on(
        message: Message, handoff: HandOff, bot: Bot, i18n: I18nContext, feedback: FeedbackService
    ) -> None:
        admin = message.from_user.full_name if message.from_user else "—"
        if handoff.taken_by_id is None and message.from_user is not None:
            # Answering without pressing "Take it" takes it too, so nobody else starts on it.
            result = await feedback.take(
                handoff.asked.chat_id,
                handoff.answer_id,
                message.chat.id,
                message.reply_to_message.message_id if message.reply_to_message else 0,
                message.from_user.id,
                admin,
            )
            if result is not None and result.taken:
                handoff = result.handoff
                await _show_taken(bot, handoff, i18n)
        body = message.html_text
        if not body:
            await message.reply(i18n.get("handoff-text-only"))
            return
        asked = handoff.asked
        await bot.send_message(
            asked.chat_id,
            i18n.get("handoff-answer", handoff.locale, admin=html.escape(admin), text=body),
            message_thread_id=asked.thread_id if in_group_id(asked.chat_id) else None,
            reply_parameters=ReplyParameters(message_id=asked.message_id, allow_sending_without_reply=True),
        )
        await feedback.mark_answered(handoff)
        if not in_group(message.chat):  # in the group everyone sees the bot's post already
            await message.reply(i18n.get("handoff-delivered", asker=html.escape(asked.asker_name)))

    return r


async def _reply_to_handoff(
    message: Message, bot: Bot, admins: AdminDirectory, feedback: FeedbackService
) -> bool | dict[str, Any]:
    """Filter: a reply by an admin to a message of the bot that carries a hand-off."""
    replied = message.reply_to_message
    if replied is None or replied.from_user is None or replied.from_user.id != (await bot.me()).id:
        return False
    handoff = await feedback.handoff_at(message.chat.id, replied.message_id)
    if handoff is None or not await is_chat_admin(bot, admins, message.chat, message.from_user):
        return False
    return {"handoff": handoff}


def in_group_id(chat_id: int) -> bool:
    """Groups and supergroups have negative ids (Telegram's Bot API); users have positive ones."""
    return chat_id < 0


async def _answer_as_read(markdown: str, limit: int = 1500) -> str:
    """The bot's answer as the asker read it (the model's Markdown applied, not shown as `**`),
    escaped for HTML and cut to `limit` characters; "—" when there was none."""
    try:
        text = "\n".join((await run_cpu_within(2.0, render_answer, markdown)).plain)
    except TimeoutError:
        text = markdown
    return html.escape(text[:limit]) or "—"


async def _hand_off(
    bot: Bot,
    escalation: Escalation,
    answer_id: str,
    admins: AdminDirectory,
    i18n: I18nContext,
    feedback: FeedbackService,
    signer: ButtonSigner,
) -> bool:
    """Posts the hand-off (question, answer, "Take it") to the group, or to each global admin in
    private; stores it; False when nobody could be reached."""
    asked = escalation.asked
    asker = _user_link(asked.asker_id, asked.asker_name)
    question = html.escape(escalation.question)
    answer = await _answer_as_read(escalation.answer)
    label = i18n.get("handoff-take")
    posts: list[tuple[int, int]] = []
    if in_group_id(asked.chat_id):
        people = [
            m.user
            for m in await bot.get_chat_administrators(asked.chat_id)
            if not m.user.is_bot and not getattr(m, "is_anonymous", False)
        ]
        if not people:
            return False
        mentions = ", ".join(_user_link(user.id, user.full_name) for user in people)
        text = i18n.get("handoff-group", asker=asker, question=question, answer=answer, admins=mentions)
        sent = await bot.send_message(
            asked.chat_id,
            text,
            message_thread_id=asked.thread_id,
            reply_parameters=ReplyParameters(message_id=asked.message_id, allow_sending_without_reply=True),
            reply_markup=take_keyboard(asked.chat_id, answer_id, asked.chat_id, signer, label),
        )
        posts.append((asked.chat_id, sent.message_id))
    else:
        text = i18n.get("handoff-private", asker=asker, question=question, answer=answer)
        for admin_id in sorted(admins.global_admins):
            try:
                sent = await bot.send_message(
                    admin_id,
                    text,
                    reply_markup=take_keyboard(asked.chat_id, answer_id, admin_id, signer, label),
                )
            except TelegramAPIError as exc:  # an admin who never started the bot can't be messaged
                log.warning("could not reach admin %s: %s", admin_id, exc)
                continue
            posts.append((admin_id, sent.message_id))
    if posts:
        await feedback.open_handoff(escalation, answer_id, i18n.locale, text, posts)
    return bool(posts)


async def _show_taken(bot: Bot, handoff: HandOff, i18n: I18nContext) -> None:
    """Every message carrying the hand-off now says who took it, without the button."""
    taken = i18n.get("handoff-taken-by", admin=html.escape(handoff.taken_by or "—"))
    for chat_id, message_id in handoff.posts:
        try:
            with unchanged_is_fine():
                await bot.edit_message_text(
                    f"{handoff.text}\n\n{taken}", chat_id=chat_id, message_id=message_id, reply_markup=None
                )
        except TelegramAPIError as exc:  # deleted by someone: the others still get the news
            log.warning("could not mark hand-off %s as taken in %s: %s", handoff.answer_id, chat_id, exc)


async def _tell_asker(bot: Bot, handoff: HandOff, i18n: I18nContext) -> None:
    """The asker learns who will answer, in their own language, under their question."""
    asked = handoff.asked
    admin = html.escape(handoff.taken_by or "—")
    asker = _user_link(asked.asker_id, asked.asker_name)
    await bot.send_message(
        asked.chat_id,
        i18n.get("handoff-taken-asker", handoff.locale, admin=admin, asker=asker),
        message_thread_id=asked.thread_id if in_group_id(asked.chat_id) else None,
        reply_parameters=ReplyParameters(message_id=asked.message_id, allow_sending_without_reply=True),
    )


def _user_link(user_id: int | None, name: str) -> str:
    safe = html.escape(name)
    return f'<a href="tg://user?id={user_id}">{safe}</a>' if user_id else safe
