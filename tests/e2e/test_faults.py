"""Faults that used to lose or misreport an answer (issue 12), through the fake Bot API and model."""

from __future__ import annotations

from tests.conftest import USER_ID
from tests.e2e.conftest import BotStarter
from tests.e2e.test_bot_polling import USER_CHAT, _ask, _upload_and_wait
from tests.support.corpus import RETURNS_MD
from tests.support.llm_server import GroundedLLMServer
from tests.support.telegram_server import FakeTelegramServer


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
