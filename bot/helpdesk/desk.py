"""One question from any chat: rate limits → a place in the line → the grounded answer (the model
slot held around the model calls only) → kept for rating."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.domain import ChatPreferences
from bot.helpdesk.feedback import AskedQuestion, FeedbackService
from bot.helpdesk.limits import QuestionLimiter, Throttled
from bot.helpdesk.model_queue import Busy, ModelQueue, QuestionNotices
from bot.helpdesk.preferences import ChatPreferencesService
from bot.rag.answering import Answer, AnsweringService

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
    ) -> None:
        self._answering = answering
        self._preferences = preferences
        self._limiter = limiter
        self._queue = queue
        self._feedback = feedback

    async def handle(
        self, question: Question, notices: QuestionNotices | None = None
    ) -> Answered | Throttled | Busy:
        """Throttled: over a rate limit; Busy: the line is full (told when to ask again).

        `notices` hears "typing" once on admission, and at most one "queued" (with its place in line)
        when the question waits for the model; all of them are sent before this returns.
        Raises LLMUnavailableError when the model server fails.
        """
        throttled = await self._limiter.check(question.user_id, question.chat_id, group=question.in_group)
        if throttled is not None:
            return throttled
        ticket = self._queue.admit()
        if isinstance(ticket, Busy):
            log.warning("line full: %d questions in the process, refused one", ticket.waiting)
            return ticket
        try:
            async with ticket.tell(notices):
                if notices is not None:
                    notices.typing()
                preferences = await self._preferences.get(question.chat_id)
                answer = await self._answering.answer(
                    question.text,
                    chat_id=question.chat_id,
                    thread_id=question.thread_id,
                    speaker=question.speaker if question.in_group else None,
                    language=preferences.language,
                    include_global=preferences.use_global,
                    model_turn=ticket.model_turn,
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
