"""The fake Telegram and LLM servers, exercised through the real aiogram and openai clients.

If these fail, every e2e test built on the fakes is meaningless, so they check the fakes
speak the wire formats the real clients expect and that the fault injection works.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any, cast

import aiohttp
import openai
import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramBadRequest, TelegramRetryAfter
from aiogram.types import (
    BufferedInputFile,
    ChatMemberAdministrator,
    ChatMemberMember,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    ReplyParameters,
)

from tests.support.llm_server import SYSTEM_PROMPT, GroundedLLMServer
from tests.support.telegram_server import FakeTelegramServer

TOKEN = "123456:TEST-token"
CHAT = 100
USER = 100


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegramServer]:
    async with FakeTelegramServer() as server:
        yield server


@pytest.fixture
async def bot(telegram: FakeTelegramServer) -> AsyncIterator[Bot]:
    session = AiohttpSession(api=TelegramAPIServer.from_base(telegram.base_url))
    bot = Bot(TOKEN, session=session)
    yield bot
    await bot.session.close()


@pytest.fixture
async def llm() -> AsyncIterator[GroundedLLMServer]:
    async with GroundedLLMServer() as server:
        yield server


@pytest.fixture
async def client(llm: GroundedLLMServer) -> AsyncIterator[openai.AsyncOpenAI]:
    client = openai.AsyncOpenAI(base_url=llm.base_url, api_key="x", max_retries=0)
    yield client
    await client.close()


# ---------------------------------------------------------------- Telegram


async def test_get_me_and_send_message_decodes_params(telegram: FakeTelegramServer, bot: Bot) -> None:
    me = await bot.get_me()
    assert (me.id, me.username, me.is_bot) == (42, "kb_test_bot", True)

    keyboard = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="Yes", callback_data="yes")]])
    sent = await bot.send_message(CHAT, "<b>Hi</b> &amp; [1, 2]", parse_mode="HTML", reply_markup=keyboard)

    assert sent.message_id == 1
    assert sent.text == "Hi & [1, 2]"  # Telegram returns the text with markup removed
    assert sent.from_user is not None
    assert sent.from_user.id == 42
    assert sent.chat.type == "private"
    assert sent.reply_markup is not None
    assert sent.reply_markup.model_dump() == keyboard.model_dump()

    recorded = await telegram.wait_for("sendMessage")
    assert recorded.params["reply_markup"] == {"inline_keyboard": [[{"text": "Yes", "callback_data": "yes"}]]}
    assert recorded.params["parse_mode"] == "HTML"
    assert recorded.text == "<b>Hi</b> &amp; [1, 2]"  # text that looks like JSON stays text
    assert recorded.chat_id == CHAT
    assert recorded.raw["chat_id"] == str(CHAT)
    assert recorded.token == TOKEN
    # aiogram posts plain calls urlencoded, not multipart; only uploads use multipart.
    assert recorded.content_type == "application/x-www-form-urlencoded"


async def test_message_ids_thread_and_reply_are_echoed(telegram: FakeTelegramServer, bot: Bot) -> None:
    update = telegram.push_message(chat_id=-500, user_id=7, text="question", message_thread_id=9)
    asked = update["message"]
    assert asked["chat"]["type"] == "supergroup"

    reply = await bot.send_message(
        -500, "answer", message_thread_id=9, reply_parameters=ReplyParameters(message_id=asked["message_id"])
    )
    assert reply.message_id == asked["message_id"] + 1
    assert reply.message_thread_id == 9
    assert reply.reply_to_message is not None
    assert reply.reply_to_message.text == "question"
    second = await bot.send_message(-500, "more")
    assert second.message_id == reply.message_id + 1
    assert [r.text for r in telegram.sent_messages(-500)] == ["answer", "more"]
    assert telegram.sent_messages(CHAT) == []


async def test_flood_control_is_reported_as_retry_after(telegram: FakeTelegramServer, bot: Bot) -> None:
    telegram.fail_next("sendMessage", retry_after=3)

    with pytest.raises(TelegramRetryAfter) as caught:
        await bot.send_message(CHAT, "first")
    assert caught.value.retry_after == 3

    await bot.send_message(CHAT, "second")
    failed, succeeded = telegram.calls("sendMessage", include_failed=True)
    assert failed.failed
    assert failed.error == "Too Many Requests: retry after 1"
    assert not succeeded.failed
    assert [r.text for r in telegram.sent_messages()] == ["second"]


async def test_reject_html_only_hits_html_messages(telegram: FakeTelegramServer, bot: Bot) -> None:
    telegram.reject_html_next()

    await bot.send_message(CHAT, "plain text is unaffected")
    with pytest.raises(TelegramBadRequest, match="can't parse entities"):
        await bot.send_message(CHAT, "<b>bold</b>", parse_mode="HTML")
    await bot.send_message(CHAT, "<b>bold</b>", parse_mode="HTML")  # the rejection was used up

    assert [r.failed for r in telegram.calls("sendMessage", include_failed=True)] == [False, True, False]


async def test_invalid_html_and_overlong_text_fail_like_telegram(
    telegram: FakeTelegramServer, bot: Bot
) -> None:
    with pytest.raises(TelegramBadRequest, match='Unsupported start tag "br"'):
        await bot.send_message(CHAT, "line<br>line", parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match="end tag"):
        await bot.send_message(CHAT, "<b>open", parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(CHAT, "x" * 4097)
    # Markup does not count towards the limit: 4096 visible characters are fine.
    await bot.send_message(CHAT, "<b>" + "x" * 4096 + "</b>", parse_mode="HTML")


async def test_edit_message_text(telegram: FakeTelegramServer, bot: Bot) -> None:
    sent = await bot.send_message(CHAT, "thinking…")
    edited = await bot.edit_message_text("done", chat_id=CHAT, message_id=sent.message_id)
    assert not isinstance(edited, bool)
    assert (edited.message_id, edited.text) == (sent.message_id, "done")
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text("done", chat_id=CHAT, message_id=sent.message_id)


async def test_get_updates_long_polls_and_honours_offset(telegram: FakeTelegramServer, bot: Bot) -> None:
    pushed = telegram.push_message(chat_id=CHAT, user_id=USER, text="/start", language_code="ru")

    updates = await bot.get_updates(timeout=5)
    assert [u.update_id for u in updates] == [pushed["update_id"]]
    message = updates[0].message
    assert message is not None
    assert message.text == "/start"
    assert message.from_user is not None
    assert message.from_user.language_code == "ru"
    assert message.entities is not None
    assert message.entities[0].type == "bot_command"

    offset = pushed["update_id"] + 1
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await bot.get_updates(offset=offset, timeout=5) == []  # waits, but at most 1 s
    assert loop.time() - started < 2.5

    # An update pushed while a long poll is waiting is delivered at once.
    poll = asyncio.create_task(bot.get_updates(offset=offset, timeout=5))
    await asyncio.sleep(0.1)
    telegram.push_callback_query(
        chat_id=CHAT, user_id=USER, message_id=pushed["message"]["message_id"], data="x"
    )
    (update,) = await asyncio.wait_for(poll, 0.9)
    assert update.callback_query is not None
    assert update.callback_query.data == "x"
    assert await bot.answer_callback_query(update.callback_query.id) is True


async def test_documents_upload_and_download(telegram: FakeTelegramServer, bot: Bot) -> None:
    document = telegram.add_file("file-1", b"%PDF-1.4 fake", "handbook.pdf")
    assert document["mime_type"] == "application/pdf"
    update = telegram.push_message(chat_id=CHAT, user_id=USER, document=document, caption="please index")

    (received,) = await bot.get_updates()
    assert received.update_id == update["update_id"]
    assert received.message is not None
    assert received.message.document is not None
    file = await bot.get_file(received.message.document.file_id)
    assert file.file_path == "documents/handbook.pdf"
    downloaded = await bot.download(file)
    assert downloaded is not None
    assert downloaded.read() == b"%PDF-1.4 fake"

    with pytest.raises(TelegramBadRequest, match="invalid file_id"):
        await bot.get_file("missing")

    sent = await bot.send_document(CHAT, BufferedInputFile(b"a,b\n1,2\n", "report.csv"), caption="here")
    assert sent.document is not None
    assert sent.document.file_name == "report.csv"
    recorded = await telegram.wait_for("sendDocument")
    assert recorded.content_type == "multipart/form-data"
    assert recorded.files["document"].data == b"a,b\n1,2\n"
    assert recorded.params["caption"] == "here"
    assert telegram.file_data(sent.document.file_id) == b"a,b\n1,2\n"


async def test_chat_members(telegram: FakeTelegramServer, bot: Bot) -> None:
    telegram.set_chat_member(-500, 7, "administrator")
    admin = await bot.get_chat_member(-500, 7)
    assert isinstance(admin, ChatMemberAdministrator)
    assert isinstance(await bot.get_chat_member(-500, 8), ChatMemberMember)
    assert [m.user.id for m in await bot.get_chat_administrators(-500)] == [7]


async def test_wait_for_walks_forward_and_reports_on_timeout(telegram: FakeTelegramServer, bot: Bot) -> None:
    waiter = asyncio.create_task(telegram.wait_for("sendMessage", lambda r: r.text == "two"))
    await bot.send_message(CHAT, "one")
    await bot.send_message(CHAT, "two")
    assert (await waiter).text == "two"
    assert (await telegram.wait_for("sendMessage")).text == "one"  # "two" was already consumed
    with pytest.raises(AssertionError, match=r"#1 sendMessage ok"):
        await telegram.wait_for("sendMessage", timeout=0.2)


# ---------------------------------------------------------------- LLM

DOCS: list[dict[str, Any]] = [
    {
        "doc_id": 0,
        "title": "Отпуск",
        "content": "Сотрудникам положено 28 дней оплачиваемого отпуска. Заявление подают за две недели.",
    },
    {
        "doc_id": 1,
        "title": "Vacation policy",
        "content": "Employees get 28 days of paid vacation per year. Requests go to HR.",
    },
    {"doc_id": 2, "title": None, "content": "The office is in Moscow.\nIt opens at 9."},
]
SCHEMA_FORMAT: dict[str, Any] = {
    "type": "json_schema",
    "json_schema": {
        "name": "relevant_docs",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {"relevant_doc_ids": {"type": "array", "items": {"type": "integer"}}},
            "required": ["relevant_doc_ids"],
            "additionalProperties": False,
        },
    },
}


def grounded_messages(question: str, docs: list[dict[str, Any]] = DOCS) -> list[dict[str, Any]]:
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "documents", "content": json.dumps(docs, ensure_ascii=False)},
        {"role": "user", "content": question},
    ]


async def ask(
    client: openai.AsyncOpenAI, messages: list[dict[str, Any]], **kwargs: Any
) -> tuple[str, list[dict[str, Any]]]:
    """Run pass 1 and 2 the way the bot must; returns (answer, pass-2 messages)."""
    first = await client.chat.completions.create(
        model="vikhr", messages=cast(Any, messages), temperature=0, response_format=cast(Any, SCHEMA_FORMAT)
    )
    reply = first.choices[0].message.content
    assert reply is not None
    second_messages = [*messages, {"role": "assistant", "content": reply}]
    second = await client.chat.completions.create(
        model="vikhr",
        messages=cast(Any, second_messages),
        temperature=0.3,
        extra_body={"top_k": 40},
        **kwargs,
    )
    answer = second.choices[0].message.content
    assert answer is not None
    return answer, second_messages


async def test_grounded_two_pass_answer(llm: GroundedLLMServer, client: openai.AsyncOpenAI) -> None:
    answer, _ = await ask(client, grounded_messages("How many vacation days do employees get?"))

    assert json.loads(llm.pass2_requests[0]["messages"][-1]["content"]) == {"relevant_doc_ids": [1]}
    assert answer == "**Answer.** Employees get 28 days of paid vacation per year."
    assert llm.pass2_requests[0]["top_k"] == 40  # extra_body lands at the top level
    assert len(llm.pass1_requests) == 1
    assert llm.violations == []


async def test_russian_question_history_and_out_of_domain(
    llm: GroundedLLMServer, client: openai.AsyncOpenAI
) -> None:
    history = [{"role": "user", "content": "Привет"}, {"role": "assistant", "content": "Здравствуйте!"}]
    messages = grounded_messages("Сколько дней отпуска положено сотрудникам?")
    answer, _ = await ask(client, [*messages[:2], *history, messages[2]])
    assert answer == "**Ответ.** Сотрудникам положено 28 дней оплачиваемого отпуска."

    llm.answer_suffix = "\n\n_extra_"
    answer, _ = await ask(client, grounded_messages("Who won the football match yesterday?"))
    assert answer == "I could not find the answer in the documents.\n\n_extra_"
    assert llm.violations == []


async def test_changed_prefix_in_pass_two_is_a_violation(
    llm: GroundedLLMServer, client: openai.AsyncOpenAI
) -> None:
    messages = grounded_messages("Where is the office?")
    _, second_messages = await ask(client, messages)
    second_messages[-1] = {"role": "assistant", "content": '{"relevant_doc_ids": [0, 2]}'}

    with pytest.raises(openai.BadRequestError):
        await client.chat.completions.create(
            model="vikhr", messages=cast(Any, second_messages), temperature=0.3, extra_body={"top_k": 40}
        )
    assert len(llm.violations) == 1
    assert "pass-1 reply verbatim" in llm.violations[0]


async def test_sloppy_pass_one_and_malformed_prompts(
    llm: GroundedLLMServer, client: openai.AsyncOpenAI
) -> None:
    llm.structured_outputs = False
    first = await client.chat.completions.create(
        model="vikhr", messages=cast(Any, grounded_messages("Where is the office?")), temperature=0
    )
    assert first.choices[0].message.content == 'Relevant documents: ```json\n{"relevant_doc_ids": [2]}\n```'

    bad_prompts = [
        [{"role": "system", "content": SYSTEM_PROMPT + " "}, *grounded_messages("office?")[1:]],
        [
            grounded_messages("office?")[0],
            {"role": "documents", "content": json.dumps(DOCS)},
            {"role": "user", "content": "x"},
        ],
    ]
    for messages in bad_prompts:
        with pytest.raises(openai.BadRequestError):
            await client.chat.completions.create(model="vikhr", messages=cast(Any, messages), temperature=0)
    with pytest.raises(openai.BadRequestError):  # pass 1 must be greedy
        await client.chat.completions.create(
            model="vikhr", messages=cast(Any, grounded_messages("office?")), temperature=0.7
        )
    expected = ["messages[0] must be exactly", "documents content must equal", "pass 1 needs temperature=0"]
    assert len(llm.violations) == len(expected)
    for violation, start in zip(llm.violations, expected, strict=True):
        assert violation.split(": ", 1)[1].startswith(start), violation
    models = await client.models.list()
    assert [m.id for m in models.data] == [llm.model]


async def test_a_request_without_the_api_key_is_refused(llm: GroundedLLMServer) -> None:
    # Like vLLM started with --api-key: no bearer token, no completion.
    body = {"model": "vikhr", "messages": grounded_messages("office?"), "temperature": 0}
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{llm.base_url}/chat/completions", json=body) as response,
    ):
        assert response.status == 401
    assert llm.requests == []
    assert llm.violations == ["/v1/chat/completions without a bearer token"]
