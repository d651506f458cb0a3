"""Handlers fed real updates through the dispatcher; the replies are read from a recording session."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiogram import Bot, Dispatcher
from aiogram.types import Update

from bot.app import Services
from bot.domain import GLOBAL_SCOPE
from bot.handlers.keyboards import ConfirmDelete
from bot.telegram_app import create_dispatcher
from tests.conftest import ADMIN_ID, BOT_TOKEN, USER_ID
from tests.support.buttons import signed_for
from tests.support.corpus import RETURNS_MD
from tests.support.llm_server import GroundedLLMServer
from tests.support.recording_session import BOT_USER, RecordingSession


@dataclass
class Harness:
    bot: Bot
    dp: Dispatcher
    session: RecordingSession
    update_id: int = 0

    async def send(
        self,
        text: str | None = None,
        *,
        user_id: int = USER_ID,
        lang: str = "en",
        extra: dict[str, Any] | None = None,
    ) -> list[str]:
        """Feeds one private message and returns the texts the bot sent in response."""
        self.update_id += 1
        before = len(self.session.sent_texts())
        message: dict[str, Any] = {
            "message_id": self.update_id,
            "date": int(time.time()),
            "chat": {"id": user_id, "type": "private", "first_name": "Анна"},
            "from": {"id": user_id, "is_bot": False, "first_name": "Анна", "language_code": lang},
            **(extra or {}),
        }
        if text is not None:
            message["text"] = text
            if text.startswith("/"):
                message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        await self.dp.feed_update(
            self.bot, Update.model_validate({"update_id": self.update_id, "message": message})
        )
        return self.session.sent_texts()[before:]

    async def press(self, data: str, *, user_id: int = USER_ID, lang: str = "en") -> list[str]:
        """Feeds a button press on a bot message in the user's private chat; returns the texts sent."""
        self.update_id += 1
        before = len(self.session.sent_texts())
        query = {
            "id": str(self.update_id),
            "chat_instance": "ci",
            "data": data,
            "from": {"id": user_id, "is_bot": False, "first_name": "Анна", "language_code": lang},
            "message": {
                "message_id": 5000 + self.update_id,
                "date": int(time.time()),
                "chat": {"id": user_id, "type": "private", "first_name": "Анна"},
                "from": BOT_USER.model_dump(),
                "text": "…",
            },
        }
        await self.dp.feed_update(
            self.bot, Update.model_validate({"update_id": self.update_id, "callback_query": query})
        )
        return self.session.sent_texts()[before:]


@pytest.fixture
async def harness(services: Services) -> AsyncIterator[Harness]:
    session = RecordingSession()
    bot = Bot(BOT_TOKEN, session=session)
    dp = create_dispatcher(services)
    await dp.emit_startup(bot=bot, dispatcher=dp)  # loads the Fluent catalogues
    yield Harness(bot, dp, session)
    await dp.emit_shutdown(bot=bot, dispatcher=dp)


async def test_start_greets_in_the_users_language(harness: Harness) -> None:
    [ru] = await harness.send("/start", lang="ru")
    assert ru.startswith("Здравствуйте, Анна!")
    [en] = await harness.send("/start", lang="en-US")
    assert en.startswith("Hi, Анна!")


async def test_help_shows_admin_commands_only_to_admins(harness: Harness) -> None:
    [user_help] = await harness.send("/help")
    assert "How to ask" in user_help
    assert "/docs" not in user_help
    [admin_help] = await harness.send("/help", user_id=ADMIN_ID)
    assert "/docs" in admin_help
    assert "20 MB" in admin_help


async def test_start_and_help_show_the_real_knowledge_base(harness: Harness, services: Services) -> None:
    [empty_help] = await harness.send("/help")
    assert "no documents in the knowledge base yet" in empty_help
    [empty_start] = await harness.send("/start", user_id=ADMIN_ID)
    assert "Send me a file" in empty_start  # the admin is told how to add the first document

    await services.ingestion.ingest(
        RETURNS_MD.encode(), "returns.md", scope=GLOBAL_SCOPE, uploaded_by=ADMIN_ID
    )
    [user_help] = await harness.send("/help", lang="ru")
    assert "О чём можно спросить</b>\n• Правила возврата" in user_help
    assert "„Правила возврата“" in user_help  # nested quotes: „“ inside «»
    [user_start] = await harness.send("/start", lang="ru")
    assert "• Правила возврата" in user_start
    assert "База знаний" not in user_start  # the state is for admins
    [admin_start] = await harness.send("/start", user_id=ADMIN_ID, lang="ru")
    assert "<b>База знаний</b>: 1 документ; последний — «Правила возврата», добавлен" in admin_start


async def test_non_text_and_overlong_questions_get_a_clear_reply_without_an_llm_call(
    harness: Harness, llm_server: GroundedLLMServer
) -> None:
    sticker = {
        "sticker": {
            "file_id": "s",
            "file_unique_id": "s",
            "type": "regular",
            "width": 1,
            "height": 1,
            "is_animated": False,
            "is_video": False,
        }
    }
    [reply] = await harness.send(lang="ru", extra=sticker)
    assert reply == "Пришлите, пожалуйста, вопрос текстом."
    [reply] = await harness.send("   \n ", lang="ru")
    assert reply == "Пришлите, пожалуйста, вопрос текстом."
    [reply] = await harness.send("/frobnicate", lang="ru")
    assert "Не знаю такой команды" in reply
    [reply] = await harness.send("слово " * 1000, lang="ru")
    assert "слишком длинный" in reply
    assert llm_server.requests == []


async def test_document_commands_are_for_admins(harness: Harness, services: Services) -> None:
    assert await harness.send("/docs") == ["This command is for the bot's administrators."]
    assert await harness.send("/delete abc") == ["This command is for the bot's administrators."]
    # A bare /upload from a non-admin: only the refusal, never the instructions first.
    [refused] = await harness.send("/upload")
    assert refused.startswith("Only the bot's administrators can add documents.")
    [empty] = await harness.send("/docs", user_id=ADMIN_ID)
    assert "no documents yet" in empty

    result = await services.ingestion.ingest(
        RETURNS_MD.encode(), "returns.md", scope=GLOBAL_SCOPE, uploaded_by=ADMIN_ID, uploader_name="Ольга"
    )
    [listing] = await harness.send("/docs", user_id=ADMIN_ID)
    # Title, file, its type as users name it, who uploaded it and when.
    today = time.strftime("%Y-%m-%d", time.gmtime())
    assert f"<code>{result.document.doc_id}</code> — “Правила возврата”" in listing
    assert f"returns.md · Markdown · Ольга, {today}" in listing
    assert "/delete ID" in (await harness.send("/delete", user_id=ADMIN_ID))[0]
    [missing] = await harness.send("/delete nope<", user_id=ADMIN_ID)
    assert "nope&lt;" in missing
    doc_id = result.document.doc_id
    [confirm] = await harness.send(f"/delete {doc_id}", user_id=ADMIN_ID)
    assert confirm == "Delete “Правила возврата”? This can't be undone."
    assert await harness.press(
        signed_for(ConfirmDelete(doc_id=doc_id, confirm=False), ADMIN_ID), user_id=ADMIN_ID
    ) == ["OK, the document stays in the knowledge base."]
    assert len(await services.ingestion.documents([GLOBAL_SCOPE])) == 1
    # A non-admin pressing an admin's button changes nothing.
    assert await harness.press(signed_for(ConfirmDelete(doc_id=doc_id, confirm=True), USER_ID)) == []
    assert len(await services.ingestion.documents([GLOBAL_SCOPE])) == 1
    [deleted] = await harness.press(
        signed_for(ConfirmDelete(doc_id=doc_id, confirm=True), ADMIN_ID), user_id=ADMIN_ID
    )
    assert deleted == "Deleted “Правила возврата”. I will no longer answer from it."
    assert await services.ingestion.documents([GLOBAL_SCOPE]) == []


async def test_questions_are_answered_with_sources(harness: Harness, services: Services) -> None:
    await services.ingestion.ingest(
        RETURNS_MD.encode(), "returns.md", scope=GLOBAL_SCOPE, uploaded_by=ADMIN_ID
    )
    [answer] = await harness.send("Какие документы нужны для возврата?", lang="en")
    assert "чек и паспорт" in answer
    assert "<h4>Источники</h4>" in answer  # the answer follows the question's language
    # Two sections of one file are one source, its sections listed; no file name when there is a title.
    assert "<ol><li><b>Правила возврата</b> — Сроки; Документы</li></ol>" in answer
    assert "returns.md" not in answer
    assert "после покупки. [1]</p>" in answer  # the reference ends the paragraph it supports


async def test_an_unexpected_failure_still_gets_a_reply(
    harness: Harness, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(scopes: list[str]) -> list[object]:
        raise RuntimeError("qdrant: connection reset")

    monkeypatch.setattr(services.ingestion, "documents", broken)
    [reply] = await harness.send("/docs", user_id=ADMIN_ID, lang="ru")
    assert reply.startswith("Что-то пошло не так с моей стороны")
