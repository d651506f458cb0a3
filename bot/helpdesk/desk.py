"""One question from any chat: rate limits → a place in the line → the grounded answer (the model
slot held around the model calls only) → kept for rating."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

from bot.domain import ChatPreferences, scopes_for_chat
from bot.helpdesk.feedback import AskedQuestion, FeedbackService
from bot.helpdesk.limits import QuestionLimiter, Throttled, WaitingLine
from bot.helpdesk.model_queue import Busy, ModelQueue, QuestionNotices
from bot.helpdesk.preferences import ChatPreferencesService
from bot.helpdesk.smalltalk import SmallTalk, classify
from bot.rag.answering import Answer, AnsweringService, OnDelta
from bot.rag.language import Language, detect_language

log = logging.getLogger(__name__)


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
    # The chat's /settings when the caller has already read them for this update (else read here).
    preferences: ChatPreferences | None = None


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
        queue: ModelQueue,
        feedback: FeedbackService,
        catalog: DocumentCatalog,
        line: WaitingLine,
        user_queue_max: int = 3,
    ) -> None:
        self._answering = answering
        self._preferences = preferences
        self._limiter = limiter
        self._queue = queue
        self._feedback = feedback
        self._catalog = catalog
        self._line = line
        self._user_queue_max = user_queue_max

    async def handle(
        self,
        question: Question,
        notices: QuestionNotices | None = None,
        bot_names: frozenset[str] = frozenset(),
        on_delta: OnDelta | None = None,
    ) -> Answered | Throttled | Busy | Chitchat | EmptyBase:
        """The outcome for one question.

        Chitchat: small talk, answered without search or model; Throttled: over a rate limit (a
        question over the user's rate first waits its turn, up to USER_QUEUE_MAX, with one
        `notices.rate_queued`); EmptyBase: nothing to search; Busy: the model's line is full (told when
        to ask again). `notices` hears "typing" once on admission and at most one "queued" (with its
        place in line) when the question waits for the model; all are sent before this returns.
        `bot_names` (lower case) let «спасибо, бот» count as thanks. `on_delta` streams the answer as it
        is written (issue 10); groups stream only if they chose to (/settings).
        Raises LLMUnavailableError when the model server fails.
        """
        small_talk = classify(question.text, bot_names)
        if small_talk is not None:
            return Chitchat(small_talk, detect_language(question.text, default=question.ui_language))

        async def on_rate_queued(seconds: int) -> None:
            if notices is not None:
                notices.rate_queued(seconds)

        throttled = await self._limiter.admit(
            question.user_id,
            question.chat_id,
            group=question.in_group,
            line=self._line,
            queue_max=self._user_queue_max,
            on_queued=on_rate_queued,
        )
        if throttled is not None:
            return throttled
        preferences = question.preferences or await self._preferences.get(question.chat_id)
        scopes = scopes_for_chat(question.chat_id, include_global=preferences.use_global)
        if not await self._catalog.has_documents(scopes):
            language = preferences.language
            return EmptyBase(detect_language(question.text) if language == "auto" else language)
        ticket = self._queue.admit()
        if isinstance(ticket, Busy):
            log.warning("line full: %d questions in the process, refused one", ticket.waiting)
            return ticket
        try:
            async with ticket.tell(notices):
                if notices is not None:
                    notices.typing()
                answer = await self._answering.answer(
                    question.text,
                    chat_id=question.chat_id,
                    thread_id=question.thread_id,
                    speaker=question.speaker if question.in_group else None,
                    language=preferences.language,
                    include_global=preferences.use_global,
                    model_turn=ticket.model_turn,
                    on_delta=on_delta if not question.in_group or preferences.stream_in_groups else None,
                    # The turn is remembered once the answer is delivered (the outbox's receipt).
                    remember=False,
                )
        finally:
            if notices is not None:
                await notices.settled()
        log.info(
            "answered in %.3f s: %s",
            answer.seconds,
            " ".join(f"{stage}={seconds * 1000:.1f}ms" for stage, seconds in answer.timings.items()),
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
