"""The question desk, counted: every question's outcome, its stage timings and pass 1's verdict."""

from __future__ import annotations

from collections.abc import Mapping

from bot.helpdesk.desk import Answered, Chitchat, EmptyBase, Question, QuestionDesk
from bot.helpdesk.limits import Throttled
from bot.helpdesk.model_queue import Busy, QuestionNotices
from bot.rag.answering import OnDelta
from bot.telemetry import metrics


class MeasuredDesk(QuestionDesk):
    """A QuestionDesk that records `kb_questions_total{outcome}`, `kb_stage_seconds` and pass-1 counts.

    Outcomes: answered, not_found (also: the chat's base is empty), throttled, smalltalk (greetings and
    thanks, answered without a search), failed (the model failed, or anything else raised).
    """

    async def handle(
        self,
        question: Question,
        notices: QuestionNotices | None = None,
        bot_names: frozenset[str] = frozenset(),
        on_delta: OnDelta | None = None,
    ) -> Answered | Throttled | Busy | Chitchat | EmptyBase:
        try:
            outcome = await super().handle(question, notices, bot_names, on_delta)
        except Exception:  # the model failed (counted in kb_model_errors_total by the client) or worse
            metrics.QUESTIONS.labels(outcome="failed").inc()
            raise
        if isinstance(outcome, Throttled | Busy):  # refused, and told when to ask again
            metrics.QUESTIONS.labels(outcome="throttled").inc()
            return outcome
        if isinstance(outcome, Chitchat):
            metrics.QUESTIONS.labels(outcome="smalltalk").inc()
            return outcome
        if isinstance(outcome, EmptyBase):  # nothing to search: the question has no answer here
            metrics.QUESTIONS.labels(outcome="not_found").inc()
            return outcome
        answer = outcome.answer
        metrics.QUESTIONS.labels(outcome="answered" if answer.found else "not_found").inc()
        if answer.documents:
            metrics.record_pass1(answer.relevant_ids)
        # Per-stage timings where the answering service reports them (Answer.timings), else the whole.
        timings: Mapping[str, float] | None = getattr(answer, "timings", None)
        metrics.observe_stages({"answer": answer.seconds, **(timings or {})})
        return outcome
