"""How the bot talks when there is no question to search for: small talk and an empty knowledge base."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bot.handlers.keyboards import DocAction
from tests.conftest import ADMIN_ID, USER_ID
from tests.e2e.conftest import BotStarter
from tests.support.corpus import RETURNS_MD
from tests.support.llm_server import GroundedLLMServer
from tests.support.telegram_server import FakeTelegramServer, RecordedRequest

pytestmark = pytest.mark.usefixtures("classic_answers")


async def _say(tg: FakeTelegramServer, chat_id: int, text: str, language_code: str = "ru") -> RecordedRequest:
    tg.push_message(chat_id=chat_id, user_id=chat_id, text=text, language_code=language_code)
    return await tg.wait_for("sendMessage", lambda r: r.chat_id == chat_id)


async def _admin_adds_returns(tg: FakeTelegramServer) -> None:
    """The admin sends returns.md in private; returns once its upload status says it is indexed."""
    tg.add_file("f-returns", RETURNS_MD.encode(), "returns.md")
    tg.push_message(chat_id=ADMIN_ID, user_id=ADMIN_ID, document=tg.document_for("f-returns"))
    await tg.wait_for(
        "editMessageText",
        lambda r: (
            r.chat_id == ADMIN_ID and "returns.md" in (r.text or "") and not (r.text or "").startswith("⏳")
        ),
    )


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


async def test_a_question_over_the_rate_waits_with_one_notice_and_is_answered(
    start_bot: BotStarter, telegram_server: FakeTelegramServer, llm_server: GroundedLLMServer
) -> None:
    tg = telegram_server
    async with start_bot(user_question_rate="1/10 seconds", user_queue_max=1):
        await _admin_adds_returns(tg)

        def answer_to(message_id: int) -> Callable[[RecordedRequest], bool]:
            return lambda r: (
                r.chat_id == USER_ID
                and (r.params.get("reply_parameters") or {}).get("message_id") == message_id
                and "reply_markup" in r.params
            )

        def ask(text: str) -> int:
            pushed = tg.push_message(chat_id=USER_ID, user_id=USER_ID, text=text, language_code="ru")
            return int(pushed["message"]["message_id"])

        # One question per 10 s: the first is answered, the second waits its turn, the third finds one
        # already waiting (USER_QUEUE_MAX=1) and is refused. Asked one after another, in that order.
        ids = [ask("Какой срок возврата?")]
        first = await tg.wait_for("sendMessage", answer_to(ids[0]))
        ids.append(ask("Какие документы нужны для возврата?"))
        await tg.wait_for("sendMessage", lambda r: r.chat_id == USER_ID and "в очереди" in (r.text or ""))
        ids.append(ask("А для электроники?"))
        second = await tg.wait_for("sendMessage", answer_to(ids[1]), timeout=30)
        assert "14 дней" in first.visible_text
        assert "Источники" in second.visible_text
        # The third found one question already waiting (USER_QUEUE_MAX=1): refused, saying when.
        refused = await tg.wait_for(
            "sendMessage", lambda r: r.chat_id == USER_ID and "снова через" in (r.text or "")
        )
        assert "ждёт ответа" in refused.visible_text
        notices = [
            r for r in tg.calls("sendMessage") if r.chat_id == USER_ID and "в очереди" in (r.text or "")
        ]
        assert len(notices) == 1  # one "in line" notice, for the second question only...
        await tg.wait_for(
            "deleteMessage", lambda r: r.int_param("message_id") == notices[0].result["message_id"]
        )  # ...removed once its answer is there
        # 👀 on the question that waited while it was worked on, cleared when done; the one answered at
        # once never needed it (no reaction flashing for a moment).
        await tg.wait_for(
            "setMessageReaction",
            lambda r: r.int_param("message_id") == ids[1] and r.params.get("reaction") == [],
        )
        reactions = [
            (r.int_param("message_id"), r.params.get("reaction")) for r in tg.calls("setMessageReaction")
        ]
        assert reactions.index((ids[1], [{"type": "emoji", "emoji": "👀"}])) < reactions.index((ids[1], []))
        assert [r for r in reactions if r[0] == ids[0]] == []


async def test_a_base_emptied_by_a_delete_is_named_empty_at_the_next_question(
    start_bot: BotStarter, telegram_server: FakeTelegramServer, llm_server: GroundedLLMServer
) -> None:
    # The desk remembers that a base has documents (one lookup less per question); deleting the last
    # document must not leave the next asker with a search of nothing.
    tg = telegram_server
    async with start_bot(user_question_rate="100/minute", user_command_rate="100/minute"):
        await _admin_adds_returns(tg)
        tg.push_message(chat_id=ADMIN_ID, user_id=ADMIN_ID, text="Какой срок возврата?", language_code="ru")
        await tg.wait_for(
            "sendMessage",
            lambda r: r.chat_id == ADMIN_ID and "reply_markup" in r.params and "14" in r.visible_text,
        )
        tg.push_message(chat_id=ADMIN_ID, user_id=ADMIN_ID, text="/docs", language_code="ru")
        listing = await tg.wait_for(
            "sendMessage", lambda r: r.chat_id == ADMIN_ID and "Документы (1)" in (r.text or "")
        )
        [[title, _trash]] = listing.params["reply_markup"]["inline_keyboard"]
        doc_id = DocAction.unpack(title["callback_data"]).doc_id
        tg.push_message(chat_id=ADMIN_ID, user_id=ADMIN_ID, text=f"/delete {doc_id}", language_code="ru")
        confirm = await tg.wait_for(
            "sendMessage", lambda r: r.chat_id == ADMIN_ID and "Удалить" in (r.text or "")
        )
        yes = confirm.params["reply_markup"]["inline_keyboard"][0][0]
        tg.push_callback_query(
            chat_id=ADMIN_ID,
            user_id=ADMIN_ID,
            message_id=confirm.result["message_id"],
            data=yes["callback_data"],
            language_code="ru",
        )
        await tg.wait_for("editMessageText", lambda r: "удалён" in (r.text or ""))
        asked_before = len(llm_server.pass1_requests)
        tg.push_message(chat_id=ADMIN_ID, user_id=ADMIN_ID, text="А срок возврата какой?", language_code="ru")
        await tg.wait_for(
            "sendMessage", lambda r: r.chat_id == ADMIN_ID and "База знаний пока пуста" in r.visible_text
        )
        assert len(llm_server.pass1_requests) == asked_before  # no search of nothing, no model call
