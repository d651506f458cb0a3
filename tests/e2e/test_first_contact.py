"""First contact of new users and admins: what they are told, in their own language, and that
they are told something at all."""

from __future__ import annotations

import pytest
from aiohttp import web

from tests.conftest import ADMIN_ID, USER_ID
from tests.e2e.conftest import BotStarter
from tests.support.corpus import RETURNS_MD
from tests.support.telegram_server import FakeTelegramServer, RecordedRequest
from tests.support.web_site import serve

pytestmark = pytest.mark.usefixtures("classic_answers")

GROUP = -1001000000009
MEMBER = 2009


def _command(
    tg: FakeTelegramServer, chat_id: int, user_id: int, text: str, chat_type: str | None = None
) -> int:
    entity = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
    update = tg.push_message(
        chat_id=chat_id, user_id=user_id, text=text, language_code="ru", chat_type=chat_type, entities=entity
    )
    return int(update["message"]["message_id"])


async def _reply_to(tg: FakeTelegramServer, chat_id: int, message_id: int) -> RecordedRequest:
    return await tg.wait_for(
        "sendMessage",
        lambda r: (
            r.chat_id == chat_id and (r.params.get("reply_parameters") or {}).get("message_id") == message_id
        ),
    )


async def test_a_non_admin_is_told_a_file_was_not_saved_only_when_there_was_one(
    start_bot: BotStarter, telegram_server: FakeTelegramServer
) -> None:
    tg = telegram_server
    tg.set_chat_member(GROUP, MEMBER, "member")
    async with start_bot():
        bare = await _reply_to(tg, USER_ID, _command(tg, USER_ID, USER_ID, "/upload"))
        assert "только администраторы бота" in bare.visible_text
        assert str(USER_ID) in bare.visible_text  # what the owner needs to make them an admin
        assert "Файл" not in bare.visible_text  # no file was sent: nothing "was not saved"
        url = await _reply_to(tg, USER_ID, _command(tg, USER_ID, USER_ID, "/add_url https://example.com/"))
        assert "Файл" not in url.visible_text
        assert str(USER_ID) in url.visible_text

        tg.add_file("f-returns", RETURNS_MD.encode(), "returns.md")
        sent = tg.push_message(
            chat_id=USER_ID, user_id=USER_ID, document=tg.document_for("f-returns"), language_code="ru"
        )
        with_file = await _reply_to(tg, USER_ID, int(sent["message"]["message_id"]))
        assert "Файл не сохранён" in with_file.visible_text
        assert str(USER_ID) in with_file.visible_text

        site = await _reply_to(
            tg, GROUP, _command(tg, GROUP, MEMBER, "/add_site https://example.com/", chat_type="supergroup")
        )
        assert "только администраторы этой группы" in site.visible_text
        assert "Файл" not in site.visible_text


async def test_start_in_a_group_says_how_to_ask_instead_of_silence(
    start_bot: BotStarter, telegram_server: FakeTelegramServer
) -> None:
    tg = telegram_server
    tg.set_chat_member(GROUP, MEMBER, "member")
    async with start_bot():
        reply = await _reply_to(tg, GROUP, _command(tg, GROUP, MEMBER, "/start", chat_type="supergroup"))
        assert "/ask" in reply.visible_text
        assert "Для администраторов группы" not in reply.visible_text  # a member is not shown admin commands


async def test_a_russian_admin_reads_why_an_address_failed_in_russian(
    start_bot: BotStarter, telegram_server: FakeTelegramServer
) -> None:
    tg = telegram_server
    async with serve(web.Application()) as site:  # every path is a 404
        async with start_bot():
            scheme = await _reply_to(
                tg, ADMIN_ID, _command(tg, ADMIN_ID, ADMIN_ID, "/add_url ftp://example.com/a")
            )
            assert "только адреса, которые начинаются с http://" in scheme.visible_text
            private = await _reply_to(tg, ADMIN_ID, _command(tg, ADMIN_ID, ADMIN_ID, f"/add_url {site}/a"))
            assert "внутренней или служебной сети" in private.visible_text
            assert "private" not in private.visible_text
        async with start_bot(url_allow_private_networks=True):
            _command(tg, ADMIN_ID, ADMIN_ID, f"/add_url {site}/missing")
            failed = await tg.wait_for(
                "editMessageText",
                lambda r: r.chat_id == ADMIN_ID and "Не удалось загрузить" in (r.text or ""),
            )
            assert "сайт ответил ошибкой 404" in (failed.text or "")
            assert "HTTP" not in (failed.text or "")


async def test_a_broken_file_is_explained_in_russian_to_a_russian_admin(
    start_bot: BotStarter, telegram_server: FakeTelegramServer
) -> None:
    tg = telegram_server
    async with start_bot():
        tg.add_file("f-broken", b"these bytes are not a zip archive", "отчёт.docx")
        tg.push_message(
            chat_id=ADMIN_ID, user_id=ADMIN_ID, document=tg.document_for("f-broken"), language_code="ru"
        )
        failed = await tg.wait_for(
            "editMessageText", lambda r: r.chat_id == ADMIN_ID and "Не удалось открыть" in (r.text or "")
        )
        assert "файл повреждён" in (failed.text or "")
        assert "zip" not in (failed.text or "")  # the parser's English reason stays in the log
