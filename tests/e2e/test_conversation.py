"""How the bot talks when there is no question to search for: small talk and an empty knowledge base."""

from __future__ import annotations

from tests.conftest import ADMIN_ID, USER_ID
from tests.e2e.conftest import BotStarter
from tests.support.llm_server import GroundedLLMServer
from tests.support.telegram_server import FakeTelegramServer, RecordedRequest


async def _say(tg: FakeTelegramServer, chat_id: int, text: str, language_code: str = "ru") -> RecordedRequest:
    tg.push_message(chat_id=chat_id, user_id=chat_id, text=text, language_code=language_code)
    return await tg.wait_for("sendMessage", lambda r: r.chat_id == chat_id)


async def test_small_talk_gets_a_friendly_reply_without_search_or_rating(
    start_bot: BotStarter, telegram_server: FakeTelegramServer, llm_server: GroundedLLMServer
) -> None:
    tg = telegram_server
    async with start_bot():
        hello = await _say(tg, USER_ID, "Привет!")
        assert "Здравствуйте" in hello.visible_text
        assert "задайте вопрос" in hello.visible_text
        assert "reply_markup" not in hello.params  # nothing to rate
        thanks = await _say(tg, USER_ID, "thanks a lot!", language_code="ru")
        assert "You're welcome" in thanks.visible_text  # the reply follows the message's language
    assert llm_server.pass1_requests == []
    assert llm_server.pass2_requests == []


async def test_an_empty_base_is_named_to_users_and_admins_are_told_how_to_fill_it(
    start_bot: BotStarter, telegram_server: FakeTelegramServer, llm_server: GroundedLLMServer
) -> None:
    tg = telegram_server
    async with start_bot():
        user = await _say(tg, USER_ID, "Какой срок возврата?")
        assert "пока нет ни одного документа" in user.visible_text
        assert "нет ответа" not in user.visible_text
        assert "reply_markup" not in user.params
        admin = await _say(tg, ADMIN_ID, "How long is the return period?", language_code="en")
        assert "knowledge base is empty" in admin.visible_text
        assert "Send me a file" in admin.visible_text
    assert llm_server.pass1_requests == []
