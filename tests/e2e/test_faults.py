"""Faults that used to lose or misreport an answer (issue 12), through the fake Bot API and model."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from redis.asyncio import Redis

from bot.handlers import questions
from bot.storage.history import history_key
from tests.conftest import USER_ID
from tests.e2e.conftest import BotStarter
from tests.e2e.test_bot_polling import USER_CHAT, _ask, _upload_and_wait
from tests.support.corpus import RETURNS_MD
from tests.support.llm_server import GroundedLLMServer
from tests.support.telegram_server import FakeTelegramServer, RecordedRequest

pytestmark = pytest.mark.usefixtures("classic_answers")


async def test_an_answer_cut_at_max_tokens_says_so(
    start_bot: BotStarter, telegram_server: FakeTelegramServer, llm_server: GroundedLLMServer
) -> None:
    tg = telegram_server
    async with start_bot(llm_max_tokens=16):  # ~64 characters: the model stops mid-answer
        await _upload_and_wait(tg, "f-returns", "returns.md", RETURNS_MD.encode())
        reply = await _ask(tg, USER_CHAT, "Какой срок возврата?")
    assert "Ответ оборван" in reply.visible_text
    assert llm_server.pass2_requests[-1]["max_tokens"] == 16
    # Complete answers carry no such mark.
    async with start_bot():
        tg.push_message(chat_id=USER_CHAT, user_id=USER_ID, text="Какой срок возврата?", language_code="ru")
        whole = await tg.wait_for("sendMessage", lambda r: r.chat_id == USER_CHAT and "14" in r.visible_text)
    assert "оборван" not in whole.visible_text


def _failed_sends(tg: FakeTelegramServer, chat_id: int) -> list[RecordedRequest]:
    return [r for r in tg.calls("sendMessage", include_failed=True) if r.failed and r.chat_id == chat_id]


async def _until(condition: Callable[[], bool], timeout: float = 20.0) -> None:  # noqa: ASYNC109
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def test_an_answer_outlasts_a_429_storm(
    start_bot: BotStarter, telegram_server: FakeTelegramServer
) -> None:
    tg = telegram_server
    async with start_bot():
        await _upload_and_wait(tg, "f-returns", "returns.md", RETURNS_MD.encode())
        # Flood control for longer than the session's own five retries (a 25 s storm, shortened).
        tg.fail_next("sendMessage", retry_after=1, times=8)
        reply = await _ask(tg, USER_CHAT, "Какой срок возврата?")
    assert "14" in reply.visible_text
    assert len(_failed_sends(tg, USER_CHAT)) == 8


async def test_an_answer_outlasts_a_502_and_enters_history_only_once_delivered(
    start_bot: BotStarter, telegram_server: FakeTelegramServer, redis: Redis
) -> None:
    tg = telegram_server
    async with start_bot():
        await _upload_and_wait(tg, "f-returns", "returns.md", RETURNS_MD.encode())
        tg.fail_next("sendMessage", error_code=502, description="Bad Gateway", retry_after=None, times=2)
        tg.push_message(chat_id=USER_CHAT, user_id=USER_ID, text="Какой срок возврата?", language_code="ru")
        await _until(lambda: bool(_failed_sends(tg, USER_CHAT)))
        # Not seen by the user yet, so not in the conversation either.
        assert await redis.llen(history_key(USER_CHAT, None)) == 0
        reply = await tg.wait_for("sendMessage", lambda r: r.chat_id == USER_CHAT)
        assert "14" in reply.visible_text
        for _ in range(100):  # the turn is written just after Telegram accepted the answer
            if await redis.llen(history_key(USER_CHAT, None)) == 2:
                break
            await asyncio.sleep(0.05)
        assert await redis.llen(history_key(USER_CHAT, None)) == 2
    assert not [r for r in tg.sent_messages(USER_CHAT) if "пошло не так" in r.visible_text]


async def test_a_restart_resumes_an_undelivered_answer(
    start_bot: BotStarter, telegram_server: FakeTelegramServer
) -> None:
    tg = telegram_server
    async with start_bot():
        await _upload_and_wait(tg, "f-returns", "returns.md", RETURNS_MD.encode())
        tg.fail_next("sendMessage", error_code=502, description="Bad Gateway", retry_after=None, times=1000)
        tg.push_message(chat_id=USER_CHAT, user_id=USER_ID, text="Какой срок возврата?", language_code="ru")
        await _until(lambda: bool(_failed_sends(tg, USER_CHAT)))
    tg.clear_faults()  # Telegram is back; the bot was restarted meanwhile
    async with start_bot():
        reply = await tg.wait_for("sendMessage", lambda r: r.chat_id == USER_CHAT)
    assert "14" in reply.visible_text


async def test_a_question_interrupted_by_shutdown_is_answered_after_the_restart(
    start_bot: BotStarter, telegram_server: FakeTelegramServer, llm_server: GroundedLLMServer
) -> None:
    tg = telegram_server
    # No grace period: the answer in flight is not waited for, so only the journal can save it.
    async with start_bot(shutdown_grace_s=0):
        await _upload_and_wait(tg, "f-returns", "returns.md", RETURNS_MD.encode())
        llm_server.delay_s = 5.0  # the model is still thinking when the bot is told to stop
        tg.push_message(chat_id=USER_CHAT, user_id=USER_ID, text="Какой срок возврата?", language_code="ru")
        await _until(lambda: bool(llm_server.pass1_requests))
    assert tg.sent_messages(USER_CHAT) == []
    llm_server.delay_s = 0.0
    async with start_bot():
        reply = await tg.wait_for("sendMessage", lambda r: r.chat_id == USER_CHAT, timeout=30)
    assert "14" in reply.visible_text


async def test_a_question_interrupted_under_eyes_loses_them_when_answered_after_the_restart(
    start_bot: BotStarter,
    telegram_server: FakeTelegramServer,
    llm_server: GroundedLLMServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The question had 👀 (worked on for over a second) when the bot was stopped. After the restart it is
    # answered at once, too quickly for this run's own 👀: the answer must not leave the old 👀 on it.
    tg = telegram_server
    async with start_bot(shutdown_grace_s=0):
        await _upload_and_wait(tg, "f-returns", "returns.md", RETURNS_MD.encode())
        llm_server.delay_s = 5.0
        pushed = tg.push_message(
            chat_id=USER_CHAT, user_id=USER_ID, text="Какой срок возврата?", language_code="ru"
        )
        asked = int(pushed["message"]["message_id"])
        await tg.wait_for(
            "setMessageReaction",
            lambda r: r.int_param("message_id") == asked and r.params.get("reaction") == [_EYES],
        )
    llm_server.delay_s = 0.0
    monkeypatch.setattr(questions, "WORKING_AFTER_S", 60.0)  # this run answers before its own 👀 is due
    async with start_bot():
        reply = await tg.wait_for("sendMessage", lambda r: r.chat_id == USER_CHAT, timeout=30)
        assert "14" in reply.visible_text
        await _until(lambda: _reaction_on(tg, asked) == [])


_EYES = {"type": "emoji", "emoji": questions.WORKING}


def _reaction_on(tg: FakeTelegramServer, message_id: int) -> object:
    """The reaction the bot last set on a message (None: it never set one)."""
    calls = [r for r in tg.calls("setMessageReaction") if r.int_param("message_id") == message_id]
    return calls[-1].params.get("reaction") if calls else None
