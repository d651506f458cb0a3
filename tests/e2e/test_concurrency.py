"""Many questions at once, through the real polling loop: a capped model, a bounded line with one honest
notice per waiting question, a refusal that says so, and a constant number of Telegram calls each."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import ADMIN_ID
from tests.e2e.conftest import BotStarter
from tests.support.corpus import RETURNS_MD
from tests.support.llm_server import GroundedLLMServer
from tests.support.telegram_server import FakeTelegramServer, RecordedRequest

pytestmark = pytest.mark.usefixtures("classic_answers")


JSON = dict[str, Any]
QUESTION = "Какой срок возврата?"
GROUP = -1001000000077
CHATS = [4001, 4002, 4003, 4004]


async def _index_returns_policy(tg: FakeTelegramServer, chat_id: int = ADMIN_ID) -> None:
    """An admin adds returns.md: to the global base from a private chat, or to a group's own base."""
    tg.add_file("f-returns", RETURNS_MD.encode(), "returns.md")
    caption = "/upload" if chat_id < 0 else None
    entities = [{"type": "bot_command", "offset": 0, "length": 7}] if caption else None
    tg.push_message(
        chat_id=chat_id,
        user_id=ADMIN_ID,
        document=tg.document_for("f-returns"),
        caption=caption,
        entities=entities,
        language_code="ru",
    )
    await tg.wait_for("editMessageText", lambda r: r.chat_id == chat_id and "⏳" not in (r.text or ""))


def _ask(tg: FakeTelegramServer, chat_id: int, text: str = QUESTION) -> JSON:
    message: JSON = tg.push_message(chat_id=chat_id, user_id=chat_id, text=text, language_code="ru")[
        "message"
    ]
    return message


def _answer_in(chat_id: int) -> Callable[[RecordedRequest], bool]:
    return lambda r: r.chat_id == chat_id and "Источники" in r.visible_text


def _reply_in(chat_id: int) -> Callable[[RecordedRequest], bool]:
    """An answer or a refusal; not a "you are in line" notice."""
    return lambda r: r.chat_id == chat_id and "в очереди под номером" not in r.visible_text


def _notices_in(tg: FakeTelegramServer, chat_id: int) -> list[str]:
    return [r.visible_text for r in tg.sent_messages(chat_id) if "в очереди" in r.visible_text]


async def test_a_busy_model_answers_everyone_in_order_with_one_true_notice_each(
    start_bot: BotStarter, telegram_server: FakeTelegramServer, llm_server: GroundedLLMServer
) -> None:
    tg = telegram_server
    async with start_bot(llm_max_concurrency=1, llm_queue_notice_after_s=0):
        await _index_returns_policy(tg)
        llm_server.delay_s = 0.75  # 1.5 s a question: the later ones reach the model while it is busy
        for chat_id in CHATS:
            _ask(tg, chat_id)
            await asyncio.sleep(0.4)
        answers = [await tg.wait_for("sendMessage", _answer_in(chat_id), timeout=60) for chat_id in CHATS]

    assert all("14 дней" in a.visible_text for a in answers)
    # Answered in the order asked, and the model never had two questions at once.
    assert [a.at for a in answers] == sorted(a.at for a in answers)
    assert [r["messages"][-1]["content"] for r in llm_server.pass1_requests] == [QUESTION] * len(CHATS)
    # The first found the model free and was told nothing; each later one was told, once, its true
    # place in line (everyone before it was still waiting or with the model).
    assert _notices_in(tg, CHATS[0]) == []
    for place, chat_id in enumerate(CHATS[1:], start=1):
        notices = _notices_in(tg, chat_id)
        assert len(notices) == 1
        assert re.search(rf"под номером {place}\b", notices[0]), notices[0]
    # "typing…" a constant number of times per question, however long it waited (not every 5 s).
    for chat_id in CHATS:
        assert 1 <= len([r for r in tg.calls("sendChatAction") if r.chat_id == chat_id]) <= 2
    assert llm_server.violations == []


async def test_beyond_the_line_a_question_is_refused_and_told_when_to_ask_again(
    start_bot: BotStarter, telegram_server: FakeTelegramServer, llm_server: GroundedLLMServer
) -> None:
    tg = telegram_server
    async with start_bot(llm_max_concurrency=1, llm_queue_max=1, llm_queue_notice_after_s=0):
        await _index_returns_policy(tg)
        llm_server.delay_s = 1.0
        for chat_id in CHATS[:3]:
            _ask(tg, chat_id)
        replies = [await tg.wait_for("sendMessage", _reply_in(chat_id), timeout=60) for chat_id in CHATS[:3]]

    refusals = [r.visible_text for r in replies if "слишком много вопросов" in r.visible_text]
    answered = [r for r in replies if "14 дней" in r.visible_text]
    # Nobody is left without a reply: two answers, and one refusal that says why and when to come back.
    assert len(answered) == 2
    assert len(refusals) == 1
    assert re.search(r"передо мной уже 2 вопроса.*примерно через \d+ с", refusals[0]), refusals[0]
    assert len(llm_server.pass1_requests) == 2  # the refused question never reached the model
    assert llm_server.violations == []


async def test_a_slow_question_in_one_chat_does_not_hold_up_another_chat(
    start_bot: BotStarter, telegram_server: FakeTelegramServer, llm_server: GroundedLLMServer
) -> None:
    tg = telegram_server
    tg.add_group(GROUP)
    tg.set_chat_member(GROUP, ADMIN_ID, "administrator")
    async with start_bot(llm_max_concurrency=1):
        await _index_returns_policy(tg, GROUP)  # only the group's base has documents
        llm_server.delay_s = 2.0
        tg.push_message(chat_id=GROUP, user_id=ADMIN_ID, text=f"/ask {QUESTION}", language_code="ru")
        await asyncio.sleep(0.3)  # the group's question is with the (slow) model now
        _ask(tg, CHATS[0])
        # The private chat's base is empty: the bot says so without the model, while the group's
        # question still holds the only model slot.
        not_found = await tg.wait_for("sendMessage", lambda r: r.chat_id == CHATS[0], timeout=30)
        group_answer = await tg.wait_for("sendMessage", _answer_in(GROUP), timeout=30)
    assert "пока нет ни одного документа" in not_found.visible_text
    assert not_found.at < group_answer.at
    assert len(llm_server.pass1_requests) == 1
    assert llm_server.violations == []
