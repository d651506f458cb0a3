"""Button data carries no authority (issue 12): a client can send any callback_data, so a press that
names another chat's answer, setting or document changes nothing and posts nowhere."""

from __future__ import annotations

import re

import pytest
from aiogram.filters.callback_data import CallbackData

from bot.handlers.keyboards import ConfirmDelete, SettingChange, TakeHandOff, Vote
from tests.conftest import USER_ID
from tests.e2e.conftest import BotStarter
from tests.e2e.test_group_helpdesk import (
    ADMIN_A,
    ADMIN_B,
    GROUP_A,
    GROUP_B,
    OTHER_USER,
    _admin_adds_returns_policy,
    _ask,
    _quiet,
    _replying_to,
)
from tests.support.buttons import signed_for
from tests.support.llm_server import GroundedLLMServer
from tests.support.telegram_server import ANSWER_METHODS, FakeTelegramServer, RecordedRequest

pytestmark = pytest.mark.usefixtures("classic_answers")


EXPIRED = "кнопка уже не работает"


def _press(tg: FakeTelegramServer, chat_id: int, user_id: int, data: str) -> None:
    # A press on some bot message in `chat_id` (the forger's own group).
    tg.push_callback_query(chat_id=chat_id, user_id=user_id, message_id=999, data=data, language_code="ru")


def _forgeries(data: CallbackData, chat_id: int) -> list[str]:
    """Unsigned data, data signed for another chat, and (as if the key leaked) data signed for the
    forger's own chat: the stored record must still refuse the last one."""
    return [data.pack(), signed_for(data, GROUP_A), signed_for(data, chat_id)]


async def test_forged_vote_and_ask_a_human_buttons_change_nothing_in_another_chat(
    start_bot: BotStarter, telegram_server: FakeTelegramServer, llm_server: GroundedLLMServer
) -> None:
    tg = telegram_server
    async with start_bot(user_question_rate="100/minute"):
        _answer, answer_id = await _answer_in_group_a_seen_from_b(tg)
        calls_before = len(tg.sent_messages(GROUP_A))

        forged = [
            *_forgeries(Vote(answer_id=answer_id, action="up"), GROUP_B),
            *_forgeries(Vote(answer_id=answer_id, action="down"), GROUP_B),
            *_forgeries(Vote(answer_id=answer_id, action="human"), GROUP_B),
        ]
        for data in forged:
            _press(tg, GROUP_B, OTHER_USER, data)
        for _ in forged:
            alert = await tg.wait_for("answerCallbackQuery")
            assert EXPIRED in str(alert.params.get("text"))
        await _quiet(tg)
        # No call for admins in group A, no new keyboard there, and no rating stored anywhere.
        assert len(tg.sent_messages(GROUP_A)) == calls_before
        assert tg.calls("editMessageReplyMarkup") == []
        _ask(tg, GROUP_A, ADMIN_A, "/feedback")
        assert (
            "Оценок пока нет"
            in (await tg.wait_for("sendMessage", lambda r: r.chat_id == GROUP_A)).visible_text
        )
    assert llm_server.violations == []


async def test_forged_settings_and_delete_buttons_are_refused(
    start_bot: BotStarter, telegram_server: FakeTelegramServer
) -> None:
    tg = telegram_server
    async with start_bot(user_question_rate="100/minute"):
        await _admin_adds_returns_policy(tg)
        tg.add_group(GROUP_B)
        tg.set_chat_member(GROUP_B, ADMIN_B, "administrator")
        _ask(tg, GROUP_A, ADMIN_A, "/docs")
        listing = await tg.wait_for(
            "sendMessage", lambda r: r.chat_id == GROUP_A and "returns.md" in r.visible_text
        )
        doc_id = re.search(r"<code>(\w+)</code>", listing.text or "")
        assert doc_id is not None

        # Unsigned data for settings and delete, pressed by group B's admin in group B.
        forged = [
            SettingChange(name="show_sources").pack(),
            SettingChange(name="language", value="en").pack(),
            ConfirmDelete(doc_id=doc_id.group(1), confirm=True).pack(),
            signed_for(ConfirmDelete(doc_id=doc_id.group(1), confirm=True), GROUP_A),
        ]
        for data in forged:
            _press(tg, GROUP_B, ADMIN_B, data)
        alerts: list[RecordedRequest] = [await tg.wait_for("answerCallbackQuery") for _ in forged]
        assert all(EXPIRED in str(alert.params.get("text")) for alert in alerts)
        await _quiet(tg)
        assert tg.calls("editMessageReplyMarkup") == []
        assert [r for r in tg.calls("editMessageText") if r.chat_id == GROUP_B] == []
        # Group A's document is still there and still answers.
        question = _ask(tg, GROUP_A, USER_ID, "/ask Какой срок возврата?")
        assert "14 дней" in (await tg.wait_for(ANSWER_METHODS, _replying_to(question))).visible_text


async def test_forged_take_it_buttons_take_nothing(
    start_bot: BotStarter, telegram_server: FakeTelegramServer, llm_server: GroundedLLMServer
) -> None:
    """A "Take it" naming group A's hand-off, pressed in group B (or on another message of group A),
    takes nothing and tells the asker nothing."""
    tg = telegram_server
    async with start_bot(user_question_rate="100/minute"):
        answer, answer_id = await _answer_in_group_a_seen_from_b(tg)
        _press_on(
            tg,
            GROUP_A,
            USER_ID,
            answer.result["message_id"],
            signed_for(Vote(answer_id=answer_id, action="human"), GROUP_A),
        )
        handoff = await tg.wait_for("sendMessage", lambda r: r.chat_id == GROUP_A and "🙋" in (r.text or ""))
        await tg.wait_for("answerCallbackQuery", lambda r: "позвал" in str(r.params.get("text")))
        sent_before = len(tg.sent_messages(GROUP_A))

        take = TakeHandOff(chat_id=GROUP_A, answer_id=answer_id)
        forged = [*_forgeries(take, GROUP_B)]
        for data in forged:
            _press(tg, GROUP_B, ADMIN_B, data)
        # The genuine data, pressed by group A's admin on a message that does not carry the hand-off.
        _press(tg, GROUP_A, ADMIN_A, signed_for(take, GROUP_A))
        for _ in range(len(forged) + 1):
            alert = await tg.wait_for("answerCallbackQuery")
            assert EXPIRED in str(alert.params.get("text"))
        await _quiet(tg)
        assert len(tg.sent_messages(GROUP_A)) == sent_before  # the asker was told nothing
        assert [
            r
            for r in tg.calls("editMessageText")
            if r.int_param("message_id") == handoff.result["message_id"]
        ] == []
    assert llm_server.violations == []


def _press_on(tg: FakeTelegramServer, chat_id: int, user_id: int, message_id: int, data: str) -> None:
    tg.push_callback_query(
        chat_id=chat_id, user_id=user_id, message_id=message_id, data=data, language_code="ru"
    )


async def _answer_in_group_a_seen_from_b(tg: FakeTelegramServer) -> tuple[RecordedRequest, str]:
    """Group A's answer to a member's question (and its answer id), with group B and its admin set up."""
    await _admin_adds_returns_policy(tg)
    tg.add_group(GROUP_B)
    tg.set_chat_member(GROUP_B, ADMIN_B, "administrator")
    question = _ask(tg, GROUP_A, USER_ID, "/ask Какой срок возврата?")
    answer = await tg.wait_for(ANSWER_METHODS, _replying_to(question))
    up_data = answer.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    return answer, Vote.unpack(up_data).answer_id
