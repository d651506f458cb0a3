"""The real polling loop against a local Bot API server (TELEGRAM_API_URL) and the grounded LLM server."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from redis.asyncio import Redis

from bot.embed.embedder import Embedder
from bot.storage.history import history_key
from tests.conftest import ADMIN_ID, USER_ID
from tests.e2e.conftest import BotStarter
from tests.support.corpus import OUT_OF_DOMAIN_RU, RETURNS_MD, VPN_MD
from tests.support.llm_server import GroundedLLMServer
from tests.support.telegram_server import ANSWER_METHODS, FakeTelegramServer, RecordedRequest

ADMIN_CHAT = ADMIN_ID  # private chats share the user's id
USER_CHAT = USER_ID


def _final_edit_in(chat_id: int) -> Callable[[RecordedRequest], bool]:
    """An upload's summary, not one of its "⏳ …" progress edits."""
    return lambda r: r.chat_id == chat_id and not (r.text or "").startswith("⏳")


def _text_to(chat_id: int) -> Callable[[RecordedRequest], bool]:
    return lambda r: r.chat_id == chat_id


async def _upload(tg: FakeTelegramServer, user_id: int, file_id: str, name: str, data: bytes) -> None:
    tg.add_file(file_id, data, name)
    tg.push_message(chat_id=user_id, user_id=user_id, document=tg.document_for(file_id), language_code="ru")


async def _upload_and_wait(tg: FakeTelegramServer, file_id: str, name: str, data: bytes) -> RecordedRequest:
    await _upload(tg, ADMIN_ID, file_id, name, data)
    await tg.wait_for("sendMessage", lambda r: r.chat_id == ADMIN_CHAT and name in (r.text or ""))
    return await tg.wait_for("editMessageText", _final_edit_in(ADMIN_CHAT))


async def _ask(tg: FakeTelegramServer, chat_id: int, text: str, language_code: str = "ru") -> RecordedRequest:
    tg.push_message(chat_id=chat_id, user_id=chat_id, text=text, language_code=language_code)
    return await tg.wait_for(ANSWER_METHODS, lambda r: r.chat_id == chat_id)


async def test_admin_uploads_and_users_get_cited_answers(
    start_bot: BotStarter,
    telegram_server: FakeTelegramServer,
    llm_server: GroundedLLMServer,
) -> None:
    tg = telegram_server
    async with start_bot():
        done = await _upload_and_wait(tg, "f-returns", "returns.md", RETURNS_MD.encode())
        assert "Документ «Правила возврата» (returns.md) добавлен" in (done.text or "")
        assert "Теперь я отвечаю и по нему." in (done.text or "")

        question = tg.push_message(
            chat_id=USER_CHAT, user_id=USER_ID, text="Какой срок возврата?", language_code="ru"
        )
        reply = await tg.wait_for("sendRichMessage", _text_to(USER_CHAT))
        assert tg.calls("sendChatAction"), "the user saw no 'typing…' while the bot worked"
        text = reply.text or ""
        assert "14 дней" in text
        assert "<h4>Источники</h4>" in text
        # The title, then the section; the file name only for documents without a title.
        assert "<li><b>Правила возврата</b> — " in text
        assert "Сроки" in text
        assert "returns.md" not in text
        assert reply.params["reply_parameters"]["message_id"] == question["message"]["message_id"]

        reply = await _ask(tg, USER_CHAT, OUT_OF_DOMAIN_RU)
        assert "В базе знаний нет ответа" in (reply.text or "")
        assert "Источники" not in (reply.text or "")

        await _upload_and_wait(tg, "f-vpn", "vpn.md", VPN_MD.encode())
        # A Russian-speaking user asks in English: the answer and its sources follow the question.
        reply = await _ask(tg, USER_CHAT, "What does error ERR-4512 mean?", language_code="ru")
        assert "certificate has expired" in reply.visible_text
        assert "Sources" in reply.visible_text
        assert "VPN setup guide — Troubleshooting" in reply.visible_text
    assert llm_server.violations == []


async def test_non_admin_upload_is_refused_and_nothing_is_stored(
    start_bot: BotStarter, telegram_server: FakeTelegramServer
) -> None:
    tg = telegram_server
    async with start_bot():
        await _upload(tg, USER_ID, "f-vpn", "vpn.md", VPN_MD.encode())
        refusal = await tg.wait_for("sendMessage", _text_to(USER_CHAT))
        assert "только администраторы" in (refusal.text or "")
        assert f"Ваш ID в Telegram — <code>{USER_ID}</code>" in (refusal.text or "")  # what the owner needs
        assert tg.calls("getFile") == []  # the file was never even downloaded
        reply = await _ask(tg, USER_CHAT, "What does error ERR-4512 mean?", language_code="en")
        assert "no documents in the knowledge base yet" in (reply.text or "")
        tg.push_message(chat_id=ADMIN_CHAT, user_id=ADMIN_ID, text="/docs", language_code="en")
        docs = await tg.wait_for("sendMessage", _text_to(ADMIN_CHAT))
        assert "no documents yet" in (docs.text or "")


async def test_reset_forgets_the_conversation(
    start_bot: BotStarter,
    telegram_server: FakeTelegramServer,
    llm_server: GroundedLLMServer,
    redis: Redis,
) -> None:
    tg = telegram_server
    async with start_bot():
        await _upload_and_wait(tg, "f-returns", "returns.md", RETURNS_MD.encode())
        await _ask(tg, USER_CHAT, "Какой срок возврата?")
        assert await redis.llen(history_key(USER_CHAT, None)) == 2
        reset = await _ask(tg, USER_CHAT, "/reset")
        assert "начнём разговор заново" in (reset.text or "")
        assert await redis.llen(history_key(USER_CHAT, None)) == 0
        await _ask(tg, USER_CHAT, "Какие документы нужны для возврата?")
        roles = [m["role"] for m in llm_server.pass1_requests[-1]["messages"]]
        assert roles == ["system", "documents", "user"]


async def test_history_and_documents_survive_a_restart_with_embedded_redis(
    start_bot: BotStarter,
    telegram_server: FakeTelegramServer,
    llm_server: GroundedLLMServer,
    tmp_path: Path,
) -> None:
    tg = telegram_server
    # REDIS_URL empty: the bot runs its own redis-server, persisting under REDIS_DATA_DIR.
    async with start_bot(redis_url="", redis_data_dir=tmp_path / "redis-data"):
        await _upload_and_wait(tg, "f-returns", "returns.md", RETURNS_MD.encode())
        await _ask(tg, USER_CHAT, "Какой срок возврата?")

    async with start_bot(redis_url="", redis_data_dir=tmp_path / "redis-data"):
        reply = await _ask(tg, USER_CHAT, "Какие документы нужны для возврата?")
        assert "Источники" in (reply.text or "")
        messages = llm_server.pass1_requests[-1]["messages"]
        assert [m["role"] for m in messages] == ["system", "documents", "user", "assistant", "user"]
        assert messages[2]["content"] == "Какой срок возврата?"


async def test_rejected_html_falls_back_to_plain_text_and_floods_are_retried(
    start_bot: BotStarter, telegram_server: FakeTelegramServer
) -> None:
    tg = telegram_server
    tg.rich_messages = False  # the classic path: HTML messages, with plain text if HTML is refused
    async with start_bot():
        await _upload_and_wait(tg, "f-returns", "returns.md", RETURNS_MD.encode())
        tg.reject_html_next()
        reply = await _ask(tg, USER_CHAT, "Какой срок возврата?")
        assert "parse_mode" not in reply.params
        assert "14 дней" in (reply.text or "")
        assert "Источники" in (reply.text or "")

        tg.fail_next("sendMessage", retry_after=1)
        reply = await _ask(tg, USER_CHAT, "Какие документы нужны для возврата?")
        assert "чек" in (reply.text or "")
        assert [r.failed for r in tg.calls("sendMessage", include_failed=True)][-2:] == [True, False]


async def test_long_answers_arrive_whole_in_several_messages(
    start_bot: BotStarter,
    telegram_server: FakeTelegramServer,
    llm_server: GroundedLLMServer,
) -> None:
    tg = telegram_server
    llm_server.answer_suffix = "".join(
        f"\n\nПункт {i}: **важно** — `код <{i}>` & подробности." * 1 for i in range(200)
    )
    tg.rich_messages = False  # classic messages hold 4,096 characters: this answer needs several
    async with start_bot(llm_max_tokens=4096):  # room for the whole ~10,000-character answer
        await _upload_and_wait(tg, "f-returns", "returns.md", RETURNS_MD.encode())
        tg.push_message(chat_id=USER_CHAT, user_id=USER_ID, text="Какой срок возврата?", language_code="ru")
        parts = [await tg.wait_for("sendMessage", _text_to(USER_CHAT)) for _ in range(3)]
        while not any("Источники" in (p.text or "") for p in parts):
            parts.append(await tg.wait_for("sendMessage", _text_to(USER_CHAT)))
    text = "\n".join(p.visible_text for p in parts)
    for i in range(200):
        assert f"Пункт {i}: важно — код <{i}> & подробности." in text
    assert all(len(p.text or "") <= 4096 for p in parts)
    assert "Источники" in (parts[-1].text or "")


async def test_model_outage_gets_a_clear_message(
    start_bot: BotStarter,
    telegram_server: FakeTelegramServer,
    llm_server: GroundedLLMServer,
) -> None:
    tg = telegram_server
    async with start_bot():
        await _upload_and_wait(tg, "f-returns", "returns.md", RETURNS_MD.encode())
        llm_server.fail_next(status=503, times=10)
        reply = await _ask(tg, USER_CHAT, "Какой срок возврата?")
        assert "Языковая модель сейчас не отвечает" in (reply.text or "")


async def test_bad_uploads_get_a_clear_message_and_store_nothing(
    start_bot: BotStarter, telegram_server: FakeTelegramServer
) -> None:
    tg = telegram_server
    async with start_bot(max_upload_mb=1):
        unsupported = await _upload_and_wait(tg, "f-exe", "setup.exe", b"MZ\x90\x00binary")
        assert "Не умею читать такие файлы (setup.exe)" in (unsupported.text or "")
        broken = await _upload_and_wait(tg, "f-pdf", "broken.pdf", b"%PDF-1.7 truncated")
        assert "Не удалось открыть broken.pdf" in (broken.text or "")
        empty = await _upload_and_wait(tg, "f-empty", "empty.txt", b"   \n")
        assert "нет текста" in (empty.text or "")

        tg.add_file("f-big", b"x" * (2 * 1024 * 1024), "big.txt")
        tg.push_message(
            chat_id=ADMIN_CHAT, user_id=ADMIN_ID, document=tg.document_for("f-big"), language_code="en"
        )
        too_big = await tg.wait_for("sendMessage", _text_to(ADMIN_CHAT))
        assert "This file is 2.0 MB, and the limit is 1 MB" in (too_big.text or "")
        assert [r.params["file_id"] for r in tg.calls("getFile")] == ["f-exe", "f-pdf", "f-empty"]

        # A file Telegram cannot serve (expired file_id): the admin is told, nothing hangs.
        lost = {"file_id": "f-gone", "file_unique_id": "u-gone", "file_name": "gone.pdf", "file_size": 10}
        tg.push_message(chat_id=ADMIN_CHAT, user_id=ADMIN_ID, document=lost, language_code="en")
        await tg.wait_for("sendMessage", lambda r: "gone.pdf: in the queue" in (r.text or ""))
        failed = await tg.wait_for("editMessageText", _final_edit_in(ADMIN_CHAT))
        assert "could not download gone.pdf" in (failed.text or "")

        tg.push_message(chat_id=ADMIN_CHAT, user_id=ADMIN_ID, text="/docs", language_code="en")
        docs = await tg.wait_for("sendMessage", _text_to(ADMIN_CHAT))
        assert "no documents yet" in (docs.text or "")


async def test_topics_keep_their_own_history_and_replies(
    start_bot: BotStarter, telegram_server: FakeTelegramServer, redis: Redis
) -> None:
    tg = telegram_server
    tg.rich_messages = False  # classic messages: this test reads answers as sendMessage calls
    async with start_bot():
        await _upload_and_wait(tg, "f-returns", "returns.md", RETURNS_MD.encode())
        # A private chat with topics (Bot API 9.3+): the message carries its topic.
        user = {"id": USER_ID, "is_bot": False, "first_name": "Анна", "language_code": "ru"}
        tg.push_update(
            {
                "message": {
                    "message_id": 500,
                    "date": int(time.time()),
                    "chat": {"id": USER_CHAT, "type": "private", "first_name": "Анна"},
                    "from": user,
                    "message_thread_id": 77,
                    "is_topic_message": True,
                    "text": "Какой срок возврата?",
                }
            }
        )
        reply = await tg.wait_for("sendMessage", _text_to(USER_CHAT))
        assert reply.int_param("message_thread_id") == 77
        assert await redis.llen(history_key(USER_CHAT, 77)) == 2
        assert await redis.llen(history_key(USER_CHAT, None)) == 0


async def test_an_indexing_crash_is_reported_and_leaves_nothing(
    start_bot: BotStarter,
    telegram_server: FakeTelegramServer,
    embedder: Embedder,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tg = telegram_server

    async def crash(self: Embedder, texts: list[str], batch_size: int = 1) -> list[list[float]]:
        raise RuntimeError("onnxruntime: out of memory")  # an infrastructure failure mid-upload

    async with start_bot():
        # On the class: the bot runs the model through a view of it bound to its embedding pool.
        monkeypatch.setattr(Embedder, "embed_passages", crash)
        failed = await _upload_and_wait(tg, "f-returns", "returns.md", RETURNS_MD.encode())
        assert "Не удалось добавить returns.md" in (failed.text or "")
        monkeypatch.undo()
        tg.push_message(chat_id=ADMIN_CHAT, user_id=ADMIN_ID, text="/docs", language_code="en")
        docs = await tg.wait_for("sendMessage", _text_to(ADMIN_CHAT))
        assert "no documents yet" in (docs.text or "")
