"""Helpdesk services on real Redis: admin cache, chat preferences, question limits, feedback export."""

from __future__ import annotations

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
from bot.storage.rate_limits import WindowCounter

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


async def test_question_limits_refuse_with_one_notice_per_window(limits_pool: ConnectionPool) -> None:
    limiter = QuestionLimiter(WindowCounter(limits_pool), user_rate="2/minute", chat_rate="3/minute")
    verdicts = [await limiter.check(1, GROUP, group=True) for _ in range(5)]
    assert verdicts[:2] == [None, None]
    refused = [v for v in verdicts[2:] if isinstance(v, Throttled)]
    assert len(refused) == 3
    assert [v.notify for v in refused] == [True, False, False]
    assert all(0 < v.wait_s <= 60 for v in refused)
    # Another user in the same group is limited by the group's own budget (3), not by user 1's.
    assert await limiter.check(2, GROUP, group=True) is None
    assert isinstance(await limiter.check(3, GROUP, group=True), Throttled)
    assert await limiter.check(3, OTHER_GROUP, group=True) is None


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
    assert await feedback.rate(answer_id, 5, "Ира", "down")
    assert await feedback.rate(answer_id, 5, "Ира", "up")  # changed her mind: one rating, the last
    assert await feedback.rate(other_id, 6, "Пётр", "down")
    assert not await feedback.rate("no-such-answer", 5, "Ира", "up")

    data, count = await feedback.export_csv(GROUP)
    assert data.startswith("\ufeff".encode())  # Excel opens the Cyrillic correctly
    [row] = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert count == 1
    assert (row["rating"], row["rated_by"], row["asked_by"]) == ("up", "Ира", "Анна")
    assert (row["question"], row["sources"]) == ("Какой срок возврата?", "Правила возврата (returns.md)")
    _, everything = await feedback.export_csv(None)
    assert everything == 2

    escalation = await feedback.escalate(answer_id)
    assert escalation is not None
    assert escalation.first
    assert escalation.asked == asked
    again = await feedback.escalate(answer_id)
    assert again is not None
    assert not again.first
