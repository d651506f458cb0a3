"""One question from any chat: rate limits → a slot with the model → the grounded answer → kept for rating."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from bot.domain import ChatPreferences, scopes_for_chat
from bot.helpdesk.feedback import AskedQuestion, FeedbackService
from bot.helpdesk.limits import ConcurrencyGate, QuestionLimiter, Throttled, WaitingLine
from bot.helpdesk.preferences import ChatPreferencesService
from bot.helpdesk.smalltalk import SmallTalk, classify
from bot.rag.answering import Answer, AnsweringService
from bot.rag.language import Language, detect_language


@dataclass(frozen=True)
class Question:
    text: str
    chat_id: int
    thread_id: int | None
    message_id: int
    user_id: int
    speaker: str
    in_group: bool
    ui_language: Language = "en"  # for replies to messages in no recognisable language ("👍")


@dataclass(frozen=True)
class Chitchat:
    """A greeting, thanks or the like: answered with a short text, no search and no model call."""

    kind: SmallTalk
    language: Language


@dataclass(frozen=True)
class EmptyBase:
    """The chat can read no document at all: saying "not found" would hide the real reason."""

    language: Language


class DocumentCatalog(Protocol):
    async def has_documents(self, scopes: list[str]) -> bool: ...


@dataclass(frozen=True)
class Answered:
    answer: Answer
    preferences: ChatPreferences
    answer_id: str  # what the 👍/👎 buttons carry


class QuestionDesk:
    def __init__(
        self,
        answering: AnsweringService,
        preferences: ChatPreferencesService,
        limiter: QuestionLimiter,
        gate: ConcurrencyGate,
        feedback: FeedbackService,
        catalog: DocumentCatalog,
        line: WaitingLine,
        user_queue_max: int = 3,
    ) -> None:
        self._answering = answering
        self._preferences = preferences
        self._limiter = limiter
        self._gate = gate
        self._feedback = feedback
        self._catalog = catalog
        self._line = line
        self._user_queue_max = user_queue_max

    async def handle(
        self,
        question: Question,
        on_wait: Callable[[], Awaitable[object]] | None = None,
        bot_names: frozenset[str] = frozenset(),
        on_queued: Callable[[int], Awaitable[object]] | None = None,
    ) -> Answered | Throttled | Chitchat | EmptyBase:
        """The outcome for one question; `bot_names` (lower case) let «спасибо, бот» count as thanks."""
        small_talk = classify(question.text, bot_names)
        if small_talk is not None:
            return Chitchat(small_talk, detect_language(question.text, default=question.ui_language))
        throttled = await self._limiter.admit(
            question.user_id,
            question.chat_id,
            group=question.in_group,
            line=self._line,
            queue_max=self._user_queue_max,
            on_queued=on_queued,
        )
        if throttled is not None:
            return throttled
        preferences = await self._preferences.get(question.chat_id)
        scopes = scopes_for_chat(question.chat_id, include_global=preferences.use_global)
        if not await self._catalog.has_documents(scopes):
            language = preferences.language
            return EmptyBase(detect_language(question.text) if language == "auto" else language)
        async with self._gate.slot(on_wait):
            answer = await self._answering.answer(
                question.text,
                chat_id=question.chat_id,
                thread_id=question.thread_id,
                speaker=question.speaker if question.in_group else None,
                language=preferences.language,
                include_global=preferences.use_global,
            )
        answer_id = await self._feedback.remember(
            answer,
            AskedQuestion(
                chat_id=question.chat_id,
                thread_id=question.thread_id,
                message_id=question.message_id,
                asker_id=question.user_id,
                asker_name=question.speaker,
            ),
        )
        return Answered(answer=answer, preferences=preferences, answer_id=answer_id)
