"""Helpdesk services on real Redis: admin cache, chat preferences, question limits, feedback export."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import ConnectionPool, Redis

from bot.app import Services
from bot.domain import ChatPreferences
from bot.helpdesk.feedback import AskedQuestion
from bot.helpdesk.limits import QuestionLimiter, Throttled
from bot.rag.answering import Answer, Citation
from bot.storage.rate_limits import WaitingQuestions, WindowCounter

GROUP = -100123
OTHER_GROUP = -100456


@pytest.fixture
async def limits_pool(redis_url: str) -> AsyncIterator[ConnectionPool]:
    pool = ConnectionPool.from_url(redis_url)
    yield pool
    await pool.aclose()


async def test_group_admin_checks_are_cached_and_global_admins_need_none(services: Services) -> None:
    lookups: list[int] = []

    async def member_is_admin() -> bool:
        lookups.append(1)
        return True

    admins = services.admins
    assert await admins.is_group_admin(GROUP, 7, member_is_admin)
    assert await admins.is_group_admin(GROUP, 7, member_is_admin)
    assert len(lookups) == 1  # the second check came from Redis
    assert await admins.is_group_admin(GROUP, next(iter(admins.global_admins)), member_is_admin)
    assert len(lookups) == 1


async def test_preferences_change_and_stale_values_fall_back(services: Services, redis: Redis) -> None:
    prefs = services.preferences
    assert await prefs.get(GROUP) == ChatPreferences()
    await prefs.set_language(GROUP, "en")
    toggled = await prefs.toggle(GROUP, "use_global")
    assert (toggled.language, toggled.use_global, toggled.show_sources) == ("en", False, True)
    assert await prefs.get(OTHER_GROUP) == ChatPreferences()
    with pytest.raises(ValueError, match="unknown answer language"):
        await prefs.set_language(GROUP, "de")
    # A value written by an older or newer version must not break the chat.
    await redis.hset(f"kb:chat-settings:{GROUP}", "language", "klingon")
    assert (await prefs.get(GROUP)).language == "auto"


async def test_a_question_over_the_user_rate_waits_its_turn_and_only_an_overflow_is_refused(
    limits_pool: ConnectionPool, redis: Redis
) -> None:
    limiter = QuestionLimiter(WindowCounter(limits_pool), user_rate="2/2 seconds", chat_rate="30/minute")
    line = WaitingQuestions(redis)
    told: list[int] = []
    queued = asyncio.Event()

    async def on_queued(seconds: int) -> None:
        told.append(seconds)
        queued.set()

    async def admit(user: int) -> Throttled | None:
        return await limiter.admit(user, GROUP, group=True, line=line, queue_max=1, on_queued=on_queued)

    assert [await admit(1), await admit(1)] == [None, None]
    waiting = asyncio.create_task(admit(1))  # the third in the window waits instead of being dropped
    await queued.wait()
    overflow = [await admit(1), await admit(1)]  # one question already waits: these are refused
    assert await waiting is None  # ...and the waiting one is let through when the window allows
    assert len(told) == 1
    assert 1 <= told[0] <= 2
    assert all(isinstance(v, Throttled) and v.waiting == 1 and v.kind == "user" for v in overflow)
    assert [v.notify for v in overflow if isinstance(v, Throttled)] == [True, False]
    assert await admit(2) is None  # another member has a budget of their own
    assert await redis.get("kb:waiting:1") == "0"


async def test_a_group_over_its_own_rate_is_refused_with_one_notice(
    limits_pool: ConnectionPool, redis: Redis
) -> None:
    limiter = QuestionLimiter(WindowCounter(limits_pool), user_rate="10/minute", chat_rate="3/minute")
    line = WaitingQuestions(redis)
    verdicts = [
        await limiter.admit(u, GROUP, group=True, line=line, queue_max=3) for u in (11, 12, 13, 14, 15)
    ]
    assert verdicts[:3] == [None, None, None]
    refused = [v for v in verdicts[3:] if isinstance(v, Throttled)]
    assert [(v.kind, v.notify) for v in refused] == [("chat", True), ("chat", False)]
    assert await limiter.admit(14, OTHER_GROUP, group=True, line=line, queue_max=3) is None


def _answer(question: str) -> Answer:
    citation = Citation(number=1, doc_id="d1", title="Правила возврата", file_name="returns.md")
    return Answer(question=question, language="ru", found=True, text="Срок — 14 дней.", citations=[citation])


async def test_feedback_keeps_one_rating_per_person_and_exports_csv(services: Services) -> None:
    feedback = services.feedback
    asked = AskedQuestion(chat_id=GROUP, thread_id=None, message_id=10, asker_id=1, asker_name="Анна")
    answer_id = await feedback.remember(_answer("Какой срок возврата?"), asked)
    other_id = await feedback.remember(
        _answer("А для электроники?"), AskedQuestion(OTHER_GROUP, None, 11, 2, "Борис")
    )
    assert await feedback.rate(answer_id, GROUP, 5, "Ира", "down")
    assert await feedback.rate(answer_id, GROUP, 5, "Ира", "up")  # changed her mind: one rating, the last
    assert await feedback.rate(other_id, OTHER_GROUP, 6, "Пётр", "down")
    assert not await feedback.rate("no-such-answer", GROUP, 5, "Ира", "up")

    data, count = await feedback.export_csv(GROUP)
    assert data.startswith("\ufeff".encode())  # Excel opens the Cyrillic correctly
    [row] = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert count == 1
    assert (row["rating"], row["rated_by"], row["asked_by"]) == ("up", "Ира", "Анна")
    assert (row["question"], row["sources"]) == ("Какой срок возврата?", "Правила возврата (returns.md)")
    _, everything = await feedback.export_csv(None)
    assert everything == 2

    escalation = await feedback.escalate(answer_id, GROUP)
    assert escalation is not None
    assert escalation.first
    assert escalation.asked == asked
    again = await feedback.escalate(answer_id, GROUP)
    assert again is not None
    assert not again.first


async def test_an_answer_is_rated_and_escalated_only_from_its_own_chat(services: Services) -> None:
    # Button data can be forged by any client: the stored record decides which chat an answer is in.
    feedback = services.feedback
    answer_id = await feedback.remember(
        _answer("Какой срок возврата?"), AskedQuestion(GROUP, None, 10, 1, "Анна")
    )
    assert not await feedback.rate(answer_id, OTHER_GROUP, 6, "Пётр", "down")
    assert await feedback.escalate(answer_id, OTHER_GROUP) is None
    _, count = await feedback.export_csv(None)
    assert count == 0
    assert await feedback.escalate(answer_id, GROUP) is not None


async def test_feedback_csv_neutralises_formulas(services: Services) -> None:
    # OWASP CSV injection: a cell that starts with = + - @ tab or CR must not run as a formula.
    feedback = services.feedback
    formulas = ['=HYPERLINK("http://evil.example","x")', "+1+1", "-2+3", "@SUM(A1)", "\tcmd", "\rcmd"]
    for index, text in enumerate(formulas):
        answer = Answer(question=text, language="en", found=True, text=text)
        answer_id = await feedback.remember(answer, AskedQuestion(GROUP, None, index, 1, text))
        assert await feedback.rate(answer_id, GROUP, 5, text, "up")
    data, count = await feedback.export_csv(GROUP)
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert count == len(formulas)
    for row in rows:
        for column in ("question", "answer", "rated_by", "asked_by"):
            assert row[column].startswith("'"), (column, row[column])
            assert row[column][1:] in formulas
    # Ordinary cells are untouched: ids, dates and Cyrillic text.
    assert rows[0]["chat_id"] == str(GROUP)
