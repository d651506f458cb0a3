"""Questions → grounded answers with numbered sources: every text in private chats; in groups only
what is addressed to the bot (/ask, an @mention, a reply to the bot)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from aiogram import Bot, F, Router
from aiogram.enums import ChatType, MessageEntityType
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from aiogram.filters import Command, CommandObject, Filter
from aiogram.types import (
    Message,
    MessageGenerationStopped,
    ReactionTypeCustomEmoji,
    ReactionTypeEmoji,
    ReactionTypePaid,
)
from aiogram.utils.text_decorations import add_surrogates, remove_surrogates
from aiogram_i18n import I18nContext

from bot.cancellation import cancel_and_wait
from bot.config import Settings
from bot.delivery.service import AnswerDelivery, AnswerSession, AnswerTexts
from bot.delivery.target import Target
from bot.domain import ChatPreferences, LLMUnavailableError
from bot.handlers.context import GROUP_TYPES, in_group, message_from_admin, speaker_name, thread_of
from bot.handlers.keyboards import feedback_keyboard
from bot.handlers.question_journal import JournalMiddleware
from bot.handlers.question_notices import ChatNotices
from bot.helpdesk.admins import AdminDirectory
from bot.helpdesk.button_signing import ButtonSigner
from bot.helpdesk.desk import Answered, Chitchat, EmptyBase, Question, QuestionDesk
from bot.helpdesk.limits import Throttled
from bot.helpdesk.model_queue import Busy
from bot.rag.answering import history_memo
from bot.rag.language import locale_language
from bot.render.answer import SourceLabels

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
        delivery: AnswerDelivery,
        chat_preferences: ChatPreferences | None = None,
        replayed_question: bool = False,
    ) -> None:
        text = (message.text or "").strip()
        await _answer(
            message,
            text,
            bot,
            i18n,
            desk,
            settings,
            admins,
            signer,
            delivery,
            chat_preferences,
            replayed=replayed_question,
        )

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
        delivery: AnswerDelivery,
        chat_preferences: ChatPreferences | None = None,
        replayed_question: bool = False,
    ) -> None:
        question = (command.args or "").strip()
        replied = message.reply_to_message
        if not question and replied is not None and replied.forum_topic_created is None and replied.text:
            question = replied.text.strip()  # "/ask" in reply to someone's message asks that message
        if not question:
            await delivery.notice(bot, _target(message), i18n.get("ask-usage"))
            return
        await _answer(
            message,
            question,
            bot,
            i18n,
            desk,
            settings,
            admins,
            signer,
            delivery,
            chat_preferences,
            replayed=replayed_question,
        )

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
        delivery: AnswerDelivery,
        chat_preferences: ChatPreferences | None = None,
        replayed_question: bool = False,
    ) -> None:
        if not question:
            await delivery.notice(bot, _target(message), i18n.get("ask-usage"))
            return
        await _answer(
            message,
            question,
            bot,
            i18n,
            desk,
            settings,
            admins,
            signer,
            delivery,
            chat_preferences,
            replayed=replayed_question,
        )

    @r.stopped_message_generation()
    async def stop_pressed(event: MessageGenerationStopped, delivery: AnswerDelivery) -> None:
        # The user pressed stop under a streamed draft: the answer in progress ends there.
        delivery.stops.stop(event.chat.id, event.draft_id)

    # Anything else in a group is people talking to each other: no handler, no reply, no LLM call.
    r.include_routers(private, group)
    return r


def _target(message: Message) -> Target:
    return Target(
        chat_id=message.chat.id,
        user_id=message.from_user.id if message.from_user else message.chat.id,
        reply_to=message.message_id,
        thread_id=thread_of(message),
        private=not in_group(message.chat),
    )


async def _answer(
    message: Message,
    question: str,
    bot: Bot,
    i18n: I18nContext,
    desk: QuestionDesk,
    settings: Settings,
    admins: AdminDirectory,
    signer: ButtonSigner,
    delivery: AnswerDelivery,
    chat_preferences: ChatPreferences | None = None,
    *,
    replayed: bool = False,
) -> None:
    """`replayed`: a question the journal answers again after a restart (it may still wear the 👀 the
    interrupted run put on it)."""
    target = _target(message)
    if not question:
        await delivery.notice(bot, target, i18n.get("not-a-question"))
        return
    if len(question) > settings.max_question_chars:
        await delivery.notice(
            bot,
            target,
            i18n.get("question-too-long", length=len(question), limit=settings.max_question_chars),
        )
        return
    asked = Question(
        text=question,
        chat_id=message.chat.id,
        thread_id=target.thread_id,
        message_id=message.message_id,
        user_id=target.user_id,
        speaker=speaker_name(message),
        in_group=in_group(message.chat),
        ui_language=locale_language(i18n.locale),
        preferences=chat_preferences,
    )
    session = delivery.session(bot, target)
    notices = ChatNotices(bot, i18n, delivery, target)
    # 👀 on the question while it is worked on, so "typing…" never ends in nothing; only once it has
    # taken WORKING_AFTER_S, as a quick answer needs none (and then two reactions fewer to send).
    working = _WorkingReaction(message)
    done: str | None = None
    try:
        outcome = await desk.handle(
            asked, notices, bot_names=await _bot_names(bot), on_delta=session.on_delta
        )
        await notices.clear()  # "in line" goes before the reply that replaces it
        done = await _reply_to_outcome(message, outcome, asked, bot, i18n, admins, signer, session)
    except LLMUnavailableError:
        await session.close()
        await message.reply(i18n.get("llm-unavailable"))
    finally:
        await notices.clear()
        shown = await working.settle()  # 👀 first, so the final reaction replaces it and not the reverse
    # A replayed question may wear 👀 from the run a shutdown interrupted: it is settled here too.
    if shown or replayed or done is not None:
        await _react(message, done)


async def _reply_to_outcome(
    message: Message,
    outcome: Answered | Throttled | Busy | Chitchat | EmptyBase,
    asked: Question,
    bot: Bot,
    i18n: I18nContext,
    admins: AdminDirectory,
    signer: ButtonSigner,
    session: AnswerSession,
) -> str | None:
    """Replies as the outcome needs; returns the reaction the question keeps (None: no reaction)."""
    if not isinstance(outcome, Answered):
        await session.close()
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
            await session.notice(i18n.get("rate-limited-group", seconds=outcome.wait_s))
        else:
            await session.notice(i18n.get("rate-limited", seconds=outcome.wait_s, waiting=outcome.waiting))
        return None
    if isinstance(outcome, Busy):
        await session.notice(i18n.get("line-full", waiting=outcome.waiting, seconds=outcome.retry_after_s))
        return None
    if not outcome.answer.found and asked.in_group and not outcome.preferences.reply_not_found:
        await session.close()
        return NOTHING_FOUND  # this group prefers silence over "not found": a shrug, not a message
    # Answer-side texts follow the answer's language, not the user's interface language.
    lang = outcome.answer.language
    texts = AnswerTexts(
        sources=SourceLabels(heading=i18n.get("sources-heading", lang), page=i18n.get("page-label", lang)),
        stopped=i18n.get("answer-stopped", lang),
        not_found=i18n.get("not-found", lang),
        cut_off=i18n.get("answer-cut-off", lang),
    )
    # Through the outbox: kept until Telegram accepted it; history gets the turn only then (issue 12).
    await session.finish(
        outcome.answer,
        texts,
        show_sources=outcome.preferences.show_sources,
        markup=feedback_keyboard(outcome.answer_id, asked.chat_id, signer),
        receipt={
            "chat_id": asked.chat_id,
            "thread_id": asked.thread_id,
            "question": asked.text,
            "memo": history_memo(outcome.answer),
            "speaker": asked.speaker if asked.in_group else None,
        },
    )
    return None


# Reactions a bot may set are a fixed list (Bot API, ReactionTypeEmoji); these three are on it.
WORKING = "👀"
# Seconds a question is worked on before it gets 👀: "typing…" covers the first moments.
WORKING_AFTER_S = 1.0
NOTHING_FOUND = "🤷"
REFUSED = "😴"


async def _react(message: Message, emoji: str | None) -> None:
    """Sets (or with None clears) the bot's reaction on the question; chats may forbid reactions."""
    reaction: list[ReactionTypeEmoji | ReactionTypeCustomEmoji | ReactionTypePaid] = (
        [ReactionTypeEmoji(emoji=emoji)] if emoji else []
    )
    with contextlib.suppress(TelegramBadRequest):
        await message.react(reaction)


class _WorkingReaction:
    """👀 on a question still being worked on after WORKING_AFTER_S seconds (a task beside the work)."""

    def __init__(self, message: Message) -> None:
        self.shown = False
        self._task = asyncio.create_task(self._show(message))

    async def _show(self, message: Message) -> None:
        await asyncio.sleep(WORKING_AFTER_S)
        self.shown = True
        await _react(message, WORKING)

    async def settle(self) -> bool:
        """Whether 👀 was set (so it needs clearing or replacing); stops it if it was not yet due. A
        failure to set it is logged, never the question's."""
        if not self.shown:
            await cancel_and_wait([self._task])
            return False
        try:
            await self._task
        except TelegramAPIError as exc:
            log.warning("could not set the reaction on a question: %s", exc)
        return True


async def _bot_names(bot: Bot) -> frozenset[str]:
    me = await bot.me()  # cached by aiogram after the first call
    return frozenset(name.lower() for name in (me.username, me.first_name) if name)
