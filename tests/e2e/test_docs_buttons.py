"""/docs as buttons (issue 14): a paged list, details and delete with the confirmation, no ids typed."""

from __future__ import annotations

from typing import Any

from bot.handlers.keyboards import DocAction, DocsPage
from tests.conftest import USER_ID
from tests.e2e.conftest import BotStarter
from tests.e2e.test_group_helpdesk import ADMIN_A, GROUP_A, _ask, _group_upload, _indexed, _quiet
from tests.support.buttons import signed_for
from tests.support.telegram_server import FakeTelegramServer, RecordedRequest

GROUP_C = -1001000000003


def _buttons(request: RecordedRequest) -> list[list[dict[str, Any]]]:
    rows: list[list[dict[str, Any]]] = request.params["reply_markup"]["inline_keyboard"]
    return rows


def _press(tg: FakeTelegramServer, chat_id: int, user_id: int, message_id: int, data: str) -> None:
    tg.push_callback_query(
        chat_id=chat_id, user_id=user_id, message_id=message_id, data=data, language_code="ru"
    )


async def test_docs_are_paged_opened_and_deleted_with_buttons(
    start_bot: BotStarter, telegram_server: FakeTelegramServer
) -> None:
    tg = telegram_server
    tg.add_group(GROUP_A)
    tg.set_chat_member(GROUP_A, ADMIN_A, "administrator", first_name="Ольга")
    async with start_bot(
        user_question_rate="100/minute", user_command_rate="100/minute", group_send_rate="200/minute"
    ):
        for n in range(1, 10):  # nine documents: two pages of eight and one
            body = f"# Памятка {n}\n\nПравило номер {n}: храните чек {n} дней.\n"
            await _group_upload(tg, GROUP_A, ADMIN_A, f"f-{n}", f"memo{n}.md", body.encode())
            await _indexed(tg, GROUP_A, f"memo{n}.md")

        _ask(tg, GROUP_A, ADMIN_A, "/docs")
        listing = await tg.wait_for(
            "sendMessage", lambda r: r.chat_id == GROUP_A and "Документы (9)" in (r.text or "")
        )
        assert "Страница 1 из 2" in listing.visible_text
        rows = _buttons(listing)
        assert len(rows) == 9  # eight documents and the ◀ 1/2 ▶ row
        assert [b["text"] for b in rows[-1]] == ["◀", "1/2", "▶"]
        listing_id = listing.result["message_id"]

        # ▶: the second page, in the same message, with the ninth document.
        _press(tg, GROUP_A, ADMIN_A, listing_id, rows[-1][2]["callback_data"])
        page2 = await tg.wait_for("editMessageText", lambda r: r.int_param("message_id") == listing_id)
        assert "Страница 2 из 2" in page2.visible_text
        [[title, _trash], nav] = _buttons(page2)
        assert title["text"].startswith("📄 Памятка")
        assert [b["text"] for b in nav] == ["◀", "2/2", "▶"]

        # A member's press on the admin's list changes nothing.
        _press(tg, GROUP_A, USER_ID, listing_id, title["callback_data"])
        await tg.wait_for("answerCallbackQuery", lambda r: "администраторов" in str(r.params.get("text")))

        # Details, then delete from there: the usual confirmation, then the document is gone.
        _press(tg, GROUP_A, ADMIN_A, listing_id, title["callback_data"])
        details = await tg.wait_for("editMessageText", lambda r: r.int_param("message_id") == listing_id)
        doc_id = DocAction.unpack(title["callback_data"]).doc_id
        assert f"<code>{doc_id}</code>" in (details.text or "")
        [[delete, back]] = _buttons(details)
        assert back["text"] == "◀ К списку"
        _press(tg, GROUP_A, ADMIN_A, listing_id, delete["callback_data"])
        confirm = await tg.wait_for("editMessageText", lambda r: "Удалить" in (r.text or ""))
        [yes, _] = _buttons(confirm)[0]
        _press(tg, GROUP_A, ADMIN_A, listing_id, yes["callback_data"])
        await tg.wait_for("editMessageText", lambda r: "удалён" in (r.text or ""))

        # Eight left: one page, no paging row.
        _ask(tg, GROUP_A, ADMIN_A, "/docs")
        after = await tg.wait_for(
            "sendMessage", lambda r: r.chat_id == GROUP_A and "Документы (8)" in (r.text or "")
        )
        assert doc_id not in (after.text or "")
        assert len(_buttons(after)) == 8
        assert all(row[1]["text"] == "🗑" for row in _buttons(after))
        # /delete ID still works without the list.
        other = DocAction.unpack(_buttons(after)[0][0]["callback_data"]).doc_id
        _ask(tg, GROUP_A, ADMIN_A, f"/delete {other}")
        assert (
            "Удалить"
            in (await tg.wait_for("sendMessage", lambda r: "Удалить" in (r.text or ""))).visible_text
        )

        # Forged: group A's document named from group C, signed for C; and a page press from C.
        tg.add_group(GROUP_C)
        tg.set_chat_member(GROUP_C, ADMIN_A, "administrator")
        forged_delete = signed_for(DocAction(doc_id=other, action="delete", page=0), GROUP_C)
        _press(tg, GROUP_C, ADMIN_A, 999, forged_delete)
        _press(tg, GROUP_C, ADMIN_A, 999, DocsPage(page=0).pack())  # unsigned
        for _ in range(2):
            await tg.wait_for("answerCallbackQuery", lambda r: "уже не работает" in str(r.params.get("text")))
        await _quiet(tg)
        assert [r for r in tg.calls("editMessageText") if r.chat_id == GROUP_C] == []
