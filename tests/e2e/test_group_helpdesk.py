"""The bot as a group helpdesk, through the real polling loop: triggers, per-group knowledge bases,
group admins, settings, abuse limits, flood control and feedback."""

from __future__ import annotations

import asyncio
import csv
import io
import re
from collections.abc import Callable
from typing import Any

from bot.handlers.keyboards import SettingChange, Vote
from tests.conftest import ADMIN_ID, USER_ID
from tests.e2e.conftest import BotStarter
from tests.support.buttons import signed_for
from tests.support.corpus import OUT_OF_DOMAIN_RU, RETURNS_MD, VPN_MD
from tests.support.llm_server import GroundedLLMServer
from tests.support.telegram_server import ANSWER_METHODS, FakeTelegramServer, RecordedRequest

GROUP_A = -1001000000001
GROUP_B = -1001000000002
ADMIN_A = 3001  # an administrator of group A only
ADMIN_B = 3002
OTHER_USER = 2003
MENTION = "@kb_test_bot"

OFFICE_A_MD = "# Офис А\n\nПароль от гостевого Wi-Fi в офисе: sunflower-42.\n"
OFFICE_B_MD = "# Офис Б\n\nПароль от гостевого Wi-Fi в офисе: cactus-17.\n"
WIFI_QUESTION = "Какой пароль от гостевого Wi-Fi?"

JSON = dict[str, Any]


def _command_entity(text: str) -> list[JSON]:
    return [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]


def _replying_to(message: JSON) -> Callable[[RecordedRequest], bool]:
    def match(request: RecordedRequest) -> bool:
        reply = request.params.get("reply_parameters")
        return (
            request.chat_id == message["chat"]["id"]
            and isinstance(reply, dict)
            and reply.get("message_id") == message["message_id"]
        )

    return match


def _ask(tg: FakeTelegramServer, group: int, user: int, text: str, **extra: Any) -> JSON:
    update = tg.push_message(
        chat_id=group, user_id=user, text=text, language_code="ru", first_name=f"U{user}", **extra
    )
    message: JSON = update["message"]
    return message


def _mention(tg: FakeTelegramServer, group: int, user: int, question: str) -> JSON:
    entities = [{"type": "mention", "offset": 0, "length": len(MENTION)}]
    return _ask(tg, group, user, f"{MENTION} {question}", entities=entities)


async def _group_upload(
    tg: FakeTelegramServer, group: int, user: int, file_id: str, name: str, data: bytes
) -> RecordedRequest:
    """A file with the caption /upload; returns the bot's first reply to it."""
    tg.add_file(file_id, data, name)
    update = tg.push_message(
        chat_id=group,
        user_id=user,
        document=tg.document_for(file_id),
        caption="/upload",
        entities=_command_entity("/upload"),
        language_code="ru",
    )
    return await tg.wait_for(ANSWER_METHODS, _replying_to(update["message"]))


def _answer_to(message: JSON) -> Callable[[RecordedRequest], bool]:
    """The grounded answer to `message`, not a notice like "you are in line"."""
    replying = _replying_to(message)
    return lambda request: replying(request) and "очереди" not in (request.text or "")


async def _admin_adds_returns_policy(tg: FakeTelegramServer) -> None:
    """Group A, with ADMIN_A as its administrator, gets the returns policy in its own base."""
    tg.add_group(GROUP_A)
    tg.set_chat_member(GROUP_A, ADMIN_A, "administrator", first_name="Ольга")
    await _group_upload(tg, GROUP_A, ADMIN_A, "f-returns", "returns.md", RETURNS_MD.encode())
    await _indexed(tg, GROUP_A, "returns.md")


async def _quiet(tg: FakeTelegramServer, seconds: float = 0.7) -> None:
    """Waits until the bot has made no request for `seconds`: every update is handled."""
    seen = -1
    while seen != len(tg.requests):
        seen = len(tg.requests)
        await asyncio.sleep(seconds)


async def _indexed(tg: FakeTelegramServer, group: int, name: str) -> str:
    done = await tg.wait_for(
        "editMessageText",
        lambda r: r.chat_id == group and name in (r.text or "") and "⏳" not in (r.text or ""),
    )
    return done.text or ""


async def test_the_bot_answers_in_a_group_only_when_addressed(
    start_bot: BotStarter, telegram_server: FakeTelegramServer, llm_server: GroundedLLMServer
) -> None:
    tg = telegram_server
    tg.add_group(GROUP_A, forum=True)
    tg.set_chat_member(GROUP_A, ADMIN_A, "administrator")
    async with start_bot(user_question_rate="100/minute"):
        # Added to the group: the bot introduces itself once, saying how to address it.
        tg.push_update(
            {
                "my_chat_member": {
                    "chat": tg.add_group(GROUP_A, forum=True),
                    "from": {"id": ADMIN_A, "is_bot": False, "first_name": "Ольга", "language_code": "ru"},
                    "date": 0,
                    "old_chat_member": {"status": "left", "user": tg.bot_user},
                    "new_chat_member": {"status": "member", "user": tg.bot_user},
                }
            }
        )
        intro = await tg.wait_for("sendMessage", lambda r: r.chat_id == GROUP_A)
        assert f"{MENTION} ваш вопрос" in intro.visible_text
        await _group_upload(tg, GROUP_A, ADMIN_A, "f-returns", "returns.md", RETURNS_MD.encode())
        assert "Правила возврата" in await _indexed(tg, GROUP_A, "returns.md")

        chatter = _ask(tg, GROUP_A, USER_ID, "Какой срок возврата? Кто-нибудь знает?")
        to_other_bot = _ask(
            tg, GROUP_A, USER_ID, "/ask@other_bot Какой срок возврата?", entities=_command_entity("/ask@x")
        )
        by_command = _ask(tg, GROUP_A, USER_ID, "/ask Какой срок возврата?")
        reply = await tg.wait_for(ANSWER_METHODS, _replying_to(by_command))
        assert "14 дней" in reply.visible_text
        assert "Источники" in reply.visible_text

        by_mention = _mention(tg, GROUP_A, OTHER_USER, "какие документы нужны для возврата?")
        reply = await tg.wait_for(ANSWER_METHODS, _replying_to(by_mention))
        assert "чек и паспорт" in reply.visible_text

        addressed_command = _ask(tg, GROUP_A, USER_ID, "/ask@kb_test_bot Какой срок возврата электроники?")
        await tg.wait_for(ANSWER_METHODS, _replying_to(addressed_command))

        # A reply to the bot's answer, inside a forum topic: the answer stays in that topic.
        in_topic = _ask(tg, GROUP_A, USER_ID, "/ask Какой срок возврата?", message_thread_id=5)
        topic_answer = await tg.wait_for(ANSWER_METHODS, _replying_to(in_topic))
        assert topic_answer.int_param("message_thread_id") == 5
        follow_up = _ask(
            tg,
            GROUP_A,
            OTHER_USER,
            "А для электроники?",
            message_thread_id=5,
            reply_to_message=topic_answer.result,
        )
        reply = await tg.wait_for(ANSWER_METHODS, _replying_to(follow_up))
        assert reply.int_param("message_thread_id") == 5

        # Silence for the chatter and for another bot's command: no reply, and the model never saw them.
        assert not [
            r for r in tg.calls("sendMessage") if _replying_to(chatter)(r) or _replying_to(to_other_bot)(r)
        ]
        asked = [r["messages"][-1]["content"] for r in llm_server.pass1_requests]
        assert len(asked) == 5
        assert not any("Кто-нибудь знает" in question for question in asked)
        # Each user turn names its speaker, so the follow-up reads as another person's question.
        assert asked[-1] == f"U{OTHER_USER}: А для электроники?"
        history = llm_server.pass1_requests[-1]["messages"][2:-1]
        assert history[0] == {"role": "user", "content": f"U{USER_ID}: Какой срок возврата?"}

        # /help in a group explains the triggers; admins also see the group commands.
        help_request = _ask(tg, GROUP_A, USER_ID, "/help")
        member_help = (await tg.wait_for(ANSWER_METHODS, _replying_to(help_request))).visible_text
        assert "/ask" in member_help
        assert MENTION in member_help
        assert "/upload" not in member_help
        help_request = _ask(tg, GROUP_A, ADMIN_A, "/help@kb_test_bot")
        admin_help = (await tg.wait_for(ANSWER_METHODS, _replying_to(help_request))).visible_text
        assert "/upload" in admin_help
        assert "/settings" in admin_help
        assert "/feedback" in admin_help
    assert llm_server.violations == []


async def test_each_group_has_its_own_base_managed_by_its_admins(
    start_bot: BotStarter, telegram_server: FakeTelegramServer, llm_server: GroundedLLMServer
) -> None:
    tg = telegram_server
    tg.rich_messages = False  # classic messages: this test reads answers as sendMessage calls
    tg.add_group(GROUP_A)
    tg.add_group(GROUP_B)
    tg.set_chat_member(GROUP_A, ADMIN_A, "creator")
    tg.set_chat_member(GROUP_B, ADMIN_B, "administrator")
    async with start_bot(user_question_rate="100/minute"):
        # A member, and group B's admin, may not add to group A: refused, nothing downloaded.
        refused = await _group_upload(tg, GROUP_A, USER_ID, "f-a1", "office-a.md", OFFICE_A_MD.encode())
        assert "только администраторы этой группы" in refused.visible_text
        refused = await _group_upload(tg, GROUP_A, ADMIN_B, "f-a2", "office-a.md", OFFICE_A_MD.encode())
        assert "только администраторы этой группы" in refused.visible_text
        assert tg.calls("getFile") == []

        await _group_upload(tg, GROUP_A, ADMIN_A, "f-a3", "office-a.md", OFFICE_A_MD.encode())
        assert "Офис А" in await _indexed(tg, GROUP_A, "office-a.md")
        # Group B's admin shares a file, then adds it with /upload in reply to it.
        tg.add_file("f-b", OFFICE_B_MD.encode(), "office-b.md")
        shared = tg.push_message(chat_id=GROUP_B, user_id=ADMIN_B, document=tg.document_for("f-b"))["message"]
        _ask(tg, GROUP_B, ADMIN_B, "/upload", reply_to_message=shared)
        indexed_b = await _indexed(tg, GROUP_B, "office-b.md")
        assert "Офис Б" in indexed_b
        _ask(tg, GROUP_B, ADMIN_B, "/docs")  # where an admin finds a document's code for /delete
        listing_b = await tg.wait_for(
            "sendMessage", lambda r: r.chat_id == GROUP_B and "Документы (" in (r.text or "")
        )
        doc_b = re.findall(r"<code>(\w+)</code>", listing_b.text or "")[-1]

        llm_server.forbidden = {"cactus-17"}
        question = _ask(tg, GROUP_A, USER_ID, f"/ask {WIFI_QUESTION}")
        reply = await tg.wait_for(ANSWER_METHODS, _replying_to(question))
        assert "sunflower-42" in reply.visible_text

        llm_server.forbidden = {"sunflower-42"}
        question = _mention(tg, GROUP_B, USER_ID, WIFI_QUESTION)
        reply = await tg.wait_for(ANSWER_METHODS, _replying_to(question))
        assert "cactus-17" in reply.visible_text

        # A private chat sees neither group's base.
        llm_server.forbidden = {"sunflower-42", "cactus-17"}
        tg.push_message(chat_id=USER_ID, user_id=USER_ID, text=WIFI_QUESTION, language_code="ru")
        reply = await tg.wait_for("sendMessage", lambda r: r.chat_id == USER_ID)
        # The global base is empty and the groups' bases are not this chat's: nothing to read.
        assert "пока нет ни одного документа" in reply.visible_text

        _ask(tg, GROUP_A, ADMIN_A, "/docs")
        listing = (
            await tg.wait_for("sendMessage", lambda r: r.chat_id == GROUP_A and "Документы" in (r.text or ""))
        ).visible_text
        assert "Офис А" in listing
        assert "Офис Б" not in listing
        # A member is refused, and told who may: this group's admins, not "the bot's" admins.
        for command in ("/docs", "/reset"):
            member_command = _ask(tg, GROUP_A, USER_ID, command)
            refusal = (await tg.wait_for(ANSWER_METHODS, _replying_to(member_command))).visible_text
            assert "только администраторы этой группы" in refusal
            assert "бота" not in refusal

        # Group A's admin can't reach group B's document, even by its id.
        foreign = _ask(tg, GROUP_A, ADMIN_A, f"/delete {doc_b}")
        assert "нет документа" in (await tg.wait_for(ANSWER_METHODS, _replying_to(foreign))).visible_text
        confirm_request = _ask(tg, GROUP_B, ADMIN_B, f"/delete {doc_b}")
        confirm = await tg.wait_for(ANSWER_METHODS, _replying_to(confirm_request))
        [yes, _] = confirm.params["reply_markup"]["inline_keyboard"][0]
        for user in (ADMIN_A, ADMIN_B):  # only B's admin's tap counts
            tg.push_callback_query(
                chat_id=GROUP_B,
                user_id=user,
                message_id=confirm.result["message_id"],
                data=yes["callback_data"],
                language_code="ru",
            )
        deleted = await tg.wait_for(
            "editMessageText", lambda r: r.chat_id == GROUP_B and "удалён" in (r.text or "")
        )
        assert "Офис Б" in deleted.visible_text
        await tg.wait_for("answerCallbackQuery", lambda r: "администратор" in str(r.params.get("text")))
        summaries = [r for r in tg.calls("editMessageText") if "⏳" not in (r.text or "")]
        assert len(summaries) == 3  # two indexing summaries and this one
    assert llm_server.violations == []


async def test_group_settings_are_for_admins_and_change_the_answers(
    start_bot: BotStarter, telegram_server: FakeTelegramServer, llm_server: GroundedLLMServer
) -> None:
    tg = telegram_server
    async with start_bot(user_question_rate="100/minute"):
        await _admin_adds_returns_policy(tg)

        refused = _ask(tg, GROUP_A, USER_ID, "/settings")
        assert (
            "только её администраторы"
            in (await tg.wait_for(ANSWER_METHODS, _replying_to(refused))).visible_text
        )
        menu_request = _ask(tg, GROUP_A, ADMIN_A, "/settings")
        menu = await tg.wait_for(ANSWER_METHODS, _replying_to(menu_request))
        buttons = [b["callback_data"] for row in menu.params["reply_markup"]["inline_keyboard"] for b in row]
        assert signed_for(SettingChange(name="use_global", value="off"), GROUP_A) in buttons
        # The message shows the state, each setting with its choices and the current one marked.
        assert "Источники: ✅ показываются · скрыты" in menu.visible_text
        assert "Общая база знаний: ✅ используется · не используется" in menu.visible_text
        menu_id = menu.result["message_id"]

        def press(user: int, change: SettingChange) -> None:
            tg.push_callback_query(
                chat_id=GROUP_A,
                user_id=user,
                message_id=menu_id,
                data=signed_for(change, GROUP_A),
                language_code="ru",
            )

        # A member's tap is refused with an alert and changes nothing.
        press(USER_ID, SettingChange(name="show_sources", value="off"))
        alert = await tg.wait_for("answerCallbackQuery")
        assert alert.params.get("show_alert") in (True, "true")
        assert "администраторы" in str(alert.params["text"])
        question = _ask(tg, GROUP_A, USER_ID, "/ask Какой срок возврата?")
        assert "Источники" in (await tg.wait_for(ANSWER_METHODS, _replying_to(question))).visible_text

        # The admin: English answers, no sources, silence when nothing is found.
        press(ADMIN_A, SettingChange(name="language", value="en"))
        await tg.wait_for("answerCallbackQuery", lambda r: "Saved" in str(r.params.get("text")))
        # The change shows in place, and the menu itself now speaks the chosen language.
        edited = await tg.wait_for("editMessageText", lambda r: r.int_param("message_id") == menu_id)
        labels = [b["text"] for row in edited.params["reply_markup"]["inline_keyboard"] for b in row]
        assert "✅ English" in labels
        assert "Answer language: same as the question · Russian · ✅ English" in edited.visible_text
        question = _ask(tg, GROUP_A, USER_ID, "/ask Какой срок возврата?")
        reply = (await tg.wait_for(ANSWER_METHODS, _replying_to(question))).visible_text
        assert "Sources" in reply
        assert llm_server.pass1_requests[-1]["messages"][-1]["content"].endswith("(Answer in English.)")
        # The interface follows the chosen language too, whatever the member's Telegram language.
        help_request = _ask(tg, GROUP_A, USER_ID, "/help")
        assert (
            "How to ask me in this group"
            in (await tg.wait_for("sendMessage", _replying_to(help_request))).visible_text
        )

        press(ADMIN_A, SettingChange(name="show_sources", value="off"))
        press(ADMIN_A, SettingChange(name="reply_not_found", value="off"))
        press(ADMIN_A, SettingChange(name="reply_not_found", value="off"))  # a double tap changes nothing
        # The presses may be handled together, each editing the menu with the state it read after its own
        # change: the edit made after both changes shows both choices.
        shown = await tg.wait_for(
            "editMessageText",
            lambda r: (
                r.int_param("message_id") == menu_id
                and "✅ stay silent" in (r.text or "")
                and "✅ hidden" in (r.text or "")
            ),
        )
        assert "Sources: shown · ✅ hidden" in shown.visible_text
        assert "No answer found: say so · ✅ stay silent" in shown.visible_text
        await _quiet(tg)
        question = _ask(tg, GROUP_A, USER_ID, "/ask Какой срок возврата?")
        reply = (await tg.wait_for(ANSWER_METHODS, _replying_to(question))).visible_text
        assert "14" in reply
        assert "Sources" not in reply
        assert "Источники" not in reply
        unanswerable = _ask(tg, GROUP_A, USER_ID, f"/ask {OUT_OF_DOMAIN_RU}")
        after = _ask(tg, GROUP_A, OTHER_USER, "/ask Какой срок возврата?")
        await tg.wait_for(ANSWER_METHODS, _replying_to(after))
        assert not [r for r in tg.calls("sendMessage") if _replying_to(unanswerable)(r)]
        # ...but not ignored: a shrug on the question, whether or not it was worked on long enough for 👀.
        await tg.wait_for(
            "setMessageReaction",
            lambda r: (
                r.int_param("message_id") == unanswerable["message_id"]
                and r.params.get("reaction") == [{"type": "emoji", "emoji": "🤷"}]
            ),
        )

        # Turning the global base off keeps the group to its own documents.
        press(ADMIN_A, SettingChange(name="use_global", value="off"))
        off = await tg.wait_for("editMessageText", lambda r: "✅ not used" in (r.text or ""))
        assert off.int_param("message_id") == menu_id
    assert llm_server.violations == []


async def test_rate_limits_answer_once_per_window_and_a_busy_model_queues(
    start_bot: BotStarter, telegram_server: FakeTelegramServer, llm_server: GroundedLLMServer
) -> None:
    tg = telegram_server
    tg.add_group(GROUP_A)
    # No waiting line (USER_QUEUE_MAX=0): questions over the rate are refused at once.
    async with start_bot(user_question_rate="2/minute", user_queue_max=0):
        asked = [_ask(tg, GROUP_A, USER_ID, f"/ask вопрос номер {n}") for n in range(5)]
        await _quiet(tg)
        sent = [r for method in ANSWER_METHODS for r in tg.calls(method)]
        replies = [r for r in sent if any(_replying_to(m)(r) for m in asked)]
        # Two replies ("the base is empty", so no model call) and, for the three refused questions,
        # one notice naming the seconds left; the other two get a 😴 reaction instead of a message.
        waits = [r.visible_text for r in replies if "снова через" in r.visible_text]
        assert len(replies) == 3
        assert len(waits) == 1
        assert re.search(r"снова через \d+ с", waits[0])
        sleepy = [
            r
            for r in tg.calls("setMessageReaction")
            if r.params.get("reaction") == [{"type": "emoji", "emoji": "😴"}]
        ]
        assert len(sleepy) == 2
        assert llm_server.pass1_requests == []

    # With one model slot, a question arriving while another is answered is told it waits.
    async with start_bot(llm_max_concurrency=1, llm_queue_notice_after_s=0):
        tg.set_chat_member(GROUP_A, ADMIN_A, "administrator")
        await _admin_adds_returns_policy(tg)
        llm_server.delay_s = 1.0
        first = _ask(tg, GROUP_A, OTHER_USER, "/ask Какой срок возврата?")
        second = _ask(tg, GROUP_A, ADMIN_A, "/ask Какие документы нужны для возврата?")
        queued = await tg.wait_for("sendMessage", lambda r: "в очереди" in (r.text or ""))
        assert _replying_to(first)(queued) or _replying_to(second)(queued)
        for message in (first, second):
            answer = await tg.wait_for(ANSWER_METHODS, _answer_to(message))
            assert "Источники" in answer.visible_text
    assert llm_server.violations == []


async def test_group_sends_are_paced_and_429s_retried_without_losing_answers(
    start_bot: BotStarter, telegram_server: FakeTelegramServer, llm_server: GroundedLLMServer
) -> None:
    tg = telegram_server
    tg.rich_messages = False  # classic messages: this test reads answers as sendMessage calls
    async with start_bot(group_send_rate="3/4 seconds", user_question_rate="100/minute"):
        await _admin_adds_returns_policy(tg)
        tg.fail_next("sendMessage")  # a 429 with retry_after 1
        asked = [_ask(tg, GROUP_A, 5000 + n, "/ask Какой срок возврата?") for n in range(5)]
        for message in asked:
            answer = await tg.wait_for(ANSWER_METHODS, _answer_to(message), timeout=30)
            assert "14 дней" in answer.visible_text
    assert any(r.failed for r in tg.calls("sendMessage", include_failed=True))
    delivered = [r for r in tg.requests if r.chat_id == GROUP_A and not r.failed]
    sends = sorted(r.at for r in delivered if r.method in ("sendMessage", "editMessageText"))
    # Never more than 3 messages to the group in any 4 seconds (the refused 429 attempt is not one).
    for index in range(len(sends) - 3):
        assert sends[index + 3] - sends[index] >= 3.5
    assert llm_server.violations == []


async def test_feedback_is_stored_exported_and_can_call_a_human(
    start_bot: BotStarter, telegram_server: FakeTelegramServer, llm_server: GroundedLLMServer
) -> None:
    tg = telegram_server
    tg.rich_messages = False  # classic messages: this test reads answers as sendMessage calls
    async with start_bot(user_question_rate="100/minute"):
        await _admin_adds_returns_policy(tg)
        question = _ask(tg, GROUP_A, USER_ID, "/ask Какой срок возврата?")
        answer = await tg.wait_for(ANSWER_METHODS, _replying_to(question))
        keyboard = answer.params["reply_markup"]["inline_keyboard"]
        up, down = (Vote.unpack(button["callback_data"]) for button in keyboard[0])
        assert (up.action, down.action) == ("up", "down")
        answer_id = answer.result["message_id"]

        def press(user: int, vote: Vote) -> None:
            tg.push_callback_query(
                chat_id=GROUP_A, user_id=user, message_id=answer_id, data=vote.pack(), language_code="ru"
            )

        press(USER_ID, up)
        press(OTHER_USER, down)
        await tg.wait_for("answerCallbackQuery", lambda r: "Спасибо" in str(r.params.get("text")))
        await tg.wait_for("answerCallbackQuery", lambda r: "Спасибо" in str(r.params.get("text")))
        offer = await tg.wait_for("editMessageReplyMarkup", lambda r: r.chat_id == GROUP_A)
        [human] = offer.params["reply_markup"]["inline_keyboard"][1]
        assert human["text"] == "🙋 Позвать человека"

        press(OTHER_USER, Vote.unpack(human["callback_data"]))
        call = await tg.wait_for(
            "sendMessage", lambda r: r.chat_id == GROUP_A and "tg://user?id=3001" in (r.text or "")
        )
        # The bot speaks in its own voice: the hand-off carries the question, the answer and a button.
        assert "Ольга" in call.visible_text
        assert _replying_to(question)(call)
        assert call.visible_text.startswith("🙋")
        assert "Какой срок возврата?" in call.visible_text
        assert "14 дней" in call.visible_text
        assert "**" not in call.visible_text  # the answer as the asker read it, not the model's Markdown
        [[take_button]] = call.params["reply_markup"]["inline_keyboard"]
        assert take_button["text"] == "✋ Беру"
        press(USER_ID, Vote.unpack(human["callback_data"]))
        await tg.wait_for("answerCallbackQuery", lambda r: "уже позвали" in str(r.params.get("text")))

        # A member can't take it; the group's admin can, and everyone sees who did.
        handoff_id = call.result["message_id"]
        for user in (OTHER_USER, ADMIN_A):
            tg.push_callback_query(
                chat_id=GROUP_A,
                user_id=user,
                message_id=handoff_id,
                data=take_button["callback_data"],
                language_code="ru",
                first_name="Ольга" if user == ADMIN_A else "Пётр",
            )
        await tg.wait_for("answerCallbackQuery", lambda r: "администраторов" in str(r.params.get("text")))
        taken = await tg.wait_for("editMessageText", lambda r: r.int_param("message_id") == handoff_id)
        assert "На вопрос отвечает Ольга" in taken.visible_text
        assert "inline_keyboard" not in str(taken.params.get("reply_markup"))
        told = await tg.wait_for(
            "sendMessage", lambda r: _replying_to(question)(r) and "ответит" in (r.text or "")
        )
        assert "ответит Ольга" in told.visible_text
        # A second take, even by an admin, is told who has it.
        tg.push_callback_query(
            chat_id=GROUP_A, user_id=ADMIN_A, message_id=handoff_id, data=take_button["callback_data"]
        )
        await tg.wait_for("answerCallbackQuery", lambda r: "Ольга" in str(r.params.get("text")))

        # The admin's reply to the hand-off reaches the asker under their question, posted by the bot.
        _ask(
            tg,
            GROUP_A,
            ADMIN_A,
            "Срок — 14 дней, но для вас сделаем исключение.",
            reply_to_message=call.result,
        )
        passed_on = await tg.wait_for(
            "sendMessage", lambda r: _replying_to(question)(r) and "исключение" in (r.text or "")
        )
        assert passed_on.visible_text.startswith("💬 Отвечает")

        refused = _ask(tg, GROUP_A, USER_ID, "/feedback")
        assert (
            "администраторы этой группы"
            in (await tg.wait_for(ANSWER_METHODS, _replying_to(refused))).visible_text
        )
        _ask(tg, GROUP_A, ADMIN_A, "/feedback")
        export = await tg.wait_for("sendDocument", lambda r: r.chat_id == GROUP_A)
        data = export.files["document"].data.decode("utf-8-sig")
        rows = list(csv.DictReader(io.StringIO(data)))
        assert sorted((row["rating"], row["rated_by_id"]) for row in rows) == [
            ("down", str(OTHER_USER)),
            ("up", str(USER_ID)),
        ]
        assert {row["question"] for row in rows} == {"Какой срок возврата?"}
        assert all(
            "Правила возврата (returns.md)" in row["sources"] and "14 дней" in row["answer"] for row in rows
        )
        # The outcome of the hand-off: who took it and when the answer went out.
        assert {row["taken_by"] for row in rows} == {"Ольга"}
        assert all(row["human_requested_at"] and row["taken_at"] and row["answered_at"] for row in rows)

    # In a private chat, "ask a human" messages the bot's global admins.
    async with start_bot(user_question_rate="100/minute"):
        # The global base needs a document, or the bot says it is empty instead of answering.
        tg.add_file("f-vpn", VPN_MD.encode(), "vpn.md")
        tg.push_message(chat_id=ADMIN_ID, user_id=ADMIN_ID, document=tg.document_for("f-vpn"))
        await tg.wait_for(
            "editMessageText",
            lambda r: (
                r.chat_id == ADMIN_ID and "vpn.md" in (r.text or "") and not (r.text or "").startswith("⏳")
            ),
        )
        tg.push_message(chat_id=USER_ID, user_id=USER_ID, text="Какой срок возврата?", language_code="ru")
        answer = await tg.wait_for("sendMessage", lambda r: r.chat_id == USER_ID)
        [[_, down_button]] = answer.params["reply_markup"]["inline_keyboard"]
        answer_id = Vote.unpack(down_button["callback_data"]).answer_id
        tg.push_callback_query(
            chat_id=USER_ID,
            user_id=USER_ID,
            message_id=answer.result["message_id"],
            data=signed_for(Vote(answer_id=answer_id, action="human"), USER_ID),
            language_code="ru",
        )
        call = await tg.wait_for("sendMessage", lambda r: r.chat_id == ADMIN_ID and "🙋" in (r.text or ""))
        assert "Какой срок возврата?" in call.visible_text
        # The admin takes it in private; the asker is told who will answer, then gets the reply.
        [[take_button]] = call.params["reply_markup"]["inline_keyboard"]
        tg.push_callback_query(
            chat_id=ADMIN_ID,
            user_id=ADMIN_ID,
            message_id=call.result["message_id"],
            data=take_button["callback_data"],
            language_code="ru",
            first_name="Ольга",
        )
        told = await tg.wait_for(
            "sendMessage", lambda r: r.chat_id == USER_ID and "ответит" in (r.text or "")
        )
        assert "Ольга" in told.visible_text
        tg.push_message(
            chat_id=ADMIN_ID,
            user_id=ADMIN_ID,
            text="Для электроники срок тот же.",
            reply_to_message=call.result,
            language_code="ru",
            first_name="Ольга",
        )
        passed_on = await tg.wait_for(
            "sendMessage", lambda r: r.chat_id == USER_ID and "электроники" in (r.text or "")
        )
        assert "Ольга" in passed_on.visible_text
        assert (
            "✅"
            in (
                await tg.wait_for("sendMessage", lambda r: r.chat_id == ADMIN_ID and "✅" in (r.text or ""))
            ).visible_text
        )
        tg.push_message(chat_id=ADMIN_ID, user_id=ADMIN_ID, text="/feedback", language_code="ru")
        export = await tg.wait_for("sendDocument", lambda r: r.chat_id == ADMIN_ID)
        rows = list(csv.DictReader(io.StringIO(export.files["document"].data.decode("utf-8-sig"))))
        [private_row] = [row for row in rows if row["chat_id"] == str(USER_ID)]
        assert private_row["taken_by"] == "Ольга"
        assert private_row["answered_at"]
    assert llm_server.violations == []
