"""One question from any chat: rate limits → a slot with the model → the grounded answer → kept for rating."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.domain import ChatPreferences
from bot.helpdesk.feedback import AskedQuestion, FeedbackService
from bot.helpdesk.limits import ConcurrencyGate, QuestionLimiter, Throttled
from bot.helpdesk.preferences import ChatPreferencesService
from bot.rag.answering import Answer, AnsweringService, OnDelta


@dataclass(frozen=True)
class Question:
    text: str
    chat_id: int
    thread_id: int | None
    message_id: int
    user_id: int
    speaker: str
    in_group: bool


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
    ) -> None:
        self._answering = answering
        self._preferences = preferences
        self._limiter = limiter
        self._gate = gate
        self._feedback = feedback

    async def handle(
        self,
        question: Question,
        on_wait: Callable[[], Awaitable[object]] | None = None,
        on_delta: OnDelta | None = None,
    ) -> Answered | Throttled:
        """`on_delta` streams the answer as it is written (issue 10); groups stream only if they chose to."""
        throttled = await self._limiter.check(question.user_id, question.chat_id, group=question.in_group)
        if throttled is not None:
            return throttled
        preferences = await self._preferences.get(question.chat_id)
        async with self._gate.slot(on_wait):
            answer = await self._answering.answer(
                question.text,
                chat_id=question.chat_id,
                thread_id=question.thread_id,
                speaker=question.speaker if question.in_group else None,
                language=preferences.language,
                include_global=preferences.use_global,
                on_delta=on_delta if not question.in_group or preferences.stream_in_groups else None,
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
