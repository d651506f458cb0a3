"""Chat history on a real Redis: capped, expiring, per chat and topic, whole turns only."""

from __future__ import annotations

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from bot.storage.history import MAX_ENTRY_CHARS, ChatHistory, history_key
from tests.conftest import free_port


async def test_keeps_only_the_last_turns_with_a_ttl(redis: Redis) -> None:
    history = ChatHistory(redis, max_turns=2, ttl_s=600)
    for i in range(5):
        await history.append(7, None, f"вопрос {i}", f"ответ {i}")
    turns = await history.recent(7, None, budget_chars=10_000)
    assert [t.content for t in turns] == ["вопрос 3", "ответ 3", "вопрос 4", "ответ 4"]
    assert [t.role for t in turns] == ["user", "assistant", "user", "assistant"]
    assert 0 < await redis.ttl(history_key(7, None)) <= 600


async def test_budget_keeps_newest_whole_turns(redis: Redis) -> None:
    history = ChatHistory(redis, max_turns=10, ttl_s=600)
    await history.append(7, None, "old question " * 20, "old answer " * 20)
    await history.append(7, None, "new q", "new a")
    turns = await history.recent(7, None, budget_chars=50)
    assert [t.content for t in turns] == ["new q", "new a"]
    assert await history.recent(7, None, budget_chars=3) == []


async def test_chats_and_topics_are_separate_and_reset_clears_one(redis: Redis) -> None:
    history = ChatHistory(redis, max_turns=5, ttl_s=600)
    await history.append(-100, 11, "topic 11", "a")
    await history.append(-100, 12, "topic 12", "b")
    await history.append(5, None, "private", "c")
    assert [t.content for t in await history.recent(-100, 11, 1000)] == ["topic 11", "a"]
    await history.clear(-100, 11)
    assert await history.recent(-100, 11, 1000) == []
    assert [t.content for t in await history.recent(-100, 12, 1000)] == ["topic 12", "b"]
    assert await history.size(5, None) == 2


async def test_long_entries_are_clipped_so_earlier_turns_still_fit(redis: Redis) -> None:
    history = ChatHistory(redis, max_turns=5, ttl_s=600)
    await history.append(7, None, "first", "short")
    await history.append(7, None, "second", "очень длинный ответ " * 500)
    turns = await history.recent(7, None, budget_chars=4000)
    assert [t.content for t in turns][:2] == ["first", "short"]
    assert len(turns[-1].content) == MAX_ENTRY_CHARS
    assert turns[-1].content.endswith("…")


async def test_a_dead_redis_degrades_to_no_history_instead_of_failing() -> None:
    # No retries: the production client's backoff would only make this test slow.
    dead: Redis = Redis(host="127.0.0.1", port=free_port(), retry=Retry(NoBackoff(), 0))
    history = ChatHistory(dead, max_turns=5, ttl_s=600)
    assert await history.recent(7, None, 1000) == []
    await history.append(7, None, "q", "a")  # logged, not raised: the user still gets the answer
    await dead.aclose()


async def test_group_turns_keep_the_speaker_apart_from_the_question(redis: Redis) -> None:
    history = ChatHistory(redis, max_turns=5, ttl_s=600)
    await history.append(-100, None, "Какой срок возврата?", "14 дней.", speaker="Анна")
    asked, answered = await history.recent(-100, None, 1000)
    # Retrieval searches the bare question; the model reads who asked it.
    assert (asked.content, asked.speaker) == ("Какой срок возврата?", "Анна")
    assert asked.for_model() == "Анна: Какой срок возврата?"
    assert answered.for_model() == "14 дней."
