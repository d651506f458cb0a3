"""Per-member and per-chat fairness (issue 12): one member's flood of commands, or one group's pile of
uploads, must not hold up anyone else."""

from __future__ import annotations

import re

import pytest

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
from tests.support.llm_server import GroundedLLMServer
from tests.support.telegram_server import FakeTelegramServer

pytestmark = pytest.mark.usefixtures("classic_answers")


async def test_a_member_flooding_help_does_not_delay_another_members_answer(
    start_bot: BotStarter, telegram_server: FakeTelegramServer, llm_server: GroundedLLMServer
) -> None:
    tg = telegram_server
    async with start_bot(user_question_rate="100/minute", user_command_rate="5/minute"):
        await _admin_adds_returns_policy(tg)
        await _quiet(tg)
        flood = [_ask(tg, GROUP_A, OTHER_USER, "/help") for _ in range(30)]
        question = _ask(tg, GROUP_A, USER_ID, "/ask Какой срок возврата?")
        # The group's budget (20 a minute) is not spent on the flood: the answer comes at once.
        answer = await tg.wait_for("sendMessage", _replying_to(question), timeout=8)
        assert "14 дней" in answer.visible_text
        await _quiet(tg)
        to_flooder = [r for r in tg.sent_messages(GROUP_A) if any(_replying_to(m)(r) for m in flood)]
        # Five /help replies, then one "please wait", then silence for the window.
        assert len(to_flooder) == 6
        assert sum("Подождите" in r.visible_text for r in to_flooder) == 1


async def test_one_groups_pile_of_uploads_does_not_hold_up_another_groups_upload(
    start_bot: BotStarter, telegram_server: FakeTelegramServer
) -> None:
    tg = telegram_server
    tg.add_group(GROUP_A)
    tg.add_group(GROUP_B)
    tg.set_chat_member(GROUP_A, ADMIN_A, "administrator")
    tg.set_chat_member(GROUP_B, ADMIN_B, "administrator")
    async with start_bot(
        ingest_max_waiting_per_chat=12, upload_progress_interval_s=0, user_command_rate="100/minute"
    ):
        piled = []
        for n in range(13):
            document = f"# Заметка {n}\n\nПункт {n}: проверить журнал номер {n * 7919}.\n"
            piled.append(tg.add_file(f"a-{n}", document.encode(), f"note-{n}.md"))
        for n in range(13):
            _upload_as(tg, GROUP_A, ADMIN_A, f"a-{n}")
        # Handled concurrently, the 13 race for 12 places: exactly one is refused at once, nothing queued.
        await tg.wait_for("sendMessage", lambda r: r.chat_id == GROUP_A and "уже ждут 12" in r.visible_text)
        for _ in range(12):
            await tg.wait_for("sendMessage", lambda r: r.chat_id == GROUP_A and "в очереди" in r.visible_text)
        tg.add_file("b-1", "# Офис Б\n\nПароль от Wi-Fi: cactus-17.\n".encode(), "office-b.md")
        _upload_as(tg, GROUP_B, ADMIN_B, "b-1")
        queued = await tg.wait_for("sendMessage", lambda r: r.chat_id == GROUP_B)
        # Round-robin: only group A's job in progress (at most one more) runs before it, and it says so.
        assert re.search(r"перед ним [12] загрузк", queued.visible_text), queued.visible_text
        started = queued.at
        done = await tg.wait_for(
            "editMessageText",
            lambda r: r.chat_id == GROUP_B and ") добавлен" in r.visible_text,
            timeout=20,
        )
        a_done_before = [
            r
            for r in tg.requests
            if r.chat_id == GROUP_A and r.at < done.at and ") добавлен" in r.visible_text
        ]
        assert done.at - started < 10
        assert len(a_done_before) < 12  # group A's pile was still being worked on
        # At most one of group A's jobs (the one running when B's arrived) started before B's.
        b_fetch = next(r for r in tg.calls("getFile") if r.params.get("file_id") == "b-1")
        a_started = [
            r
            for r in tg.calls("getFile")
            if str(r.params.get("file_id")).startswith("a-") and started < r.at < b_fetch.at
        ]
        assert len(a_started) <= 1
    assert len(piled) == 13


def _upload_as(tg: FakeTelegramServer, group: int, admin: int, file_id: str) -> None:
    tg.push_message(
        chat_id=group,
        user_id=admin,
        document=tg.document_for(file_id),
        caption="/upload",
        entities=[{"type": "bot_command", "offset": 0, "length": 7}],
        language_code="ru",
    )
