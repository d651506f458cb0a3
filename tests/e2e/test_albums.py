"""Files sent as one album are uploaded together, with one progress message for the set, though
Telegram puts the `/upload` caption on the first file only."""

from __future__ import annotations

from tests.conftest import ADMIN_ID, USER_ID
from tests.e2e.conftest import BotStarter
from tests.support.corpus import RETURNS_MD, VPN_MD
from tests.support.telegram_server import FakeTelegramServer

GROUP = -1001000000077
GROUP_ADMIN = 3077


def _send_captioned_first_file(tg: FakeTelegramServer, file_id: str, album: str) -> None:
    """The group's admin sends an album; its first file carries `/upload`, as Telegram puts it."""
    tg.add_group(GROUP)
    tg.set_chat_member(GROUP, GROUP_ADMIN, "administrator")
    tg.push_message(
        chat_id=GROUP,
        user_id=GROUP_ADMIN,
        document=tg.document_for(file_id),
        caption="/upload",
        entities=[{"type": "bot_command", "offset": 0, "length": 7}],
        media_group_id=album,
    )


async def test_a_captioned_album_in_a_group_is_indexed_whole_with_one_progress_message(
    start_bot: BotStarter, telegram_server: FakeTelegramServer
) -> None:
    tg = telegram_server
    tg.add_file("f-returns", RETURNS_MD.encode(), "returns.md")
    tg.add_file("f-vpn", VPN_MD.encode(), "vpn.md")
    async with start_bot(album_window_s=0.5):
        _send_captioned_first_file(tg, "f-returns", "album-1")
        # The second file of the album has no caption: Telegram sends it so.
        tg.push_message(
            chat_id=GROUP, user_id=GROUP_ADMIN, document=tg.document_for("f-vpn"), media_group_id="album-1"
        )
        summary = await tg.wait_for(
            "editMessageText", lambda r: r.chat_id == GROUP and "Album" in (r.text or "")
        )
        assert "Added “Правила возврата”" in (summary.text or "")
        assert "Added “VPN setup guide”" in (summary.text or "")

        tg.push_message(chat_id=GROUP, user_id=GROUP_ADMIN, text="/docs")
        listing = await tg.wait_for("sendMessage", lambda r: "Documents (2)" in (r.text or ""))
        assert "returns.md" in listing.visible_text
        assert "vpn.md" in listing.visible_text
    # One progress message for the set: one reply to the album, every edit on it.
    replies = [r for r in tg.calls("sendMessage") if r.chat_id == GROUP and "⏳" in (r.text or "")]
    assert len(replies) == 1
    assert {r.int_param("message_id") for r in tg.calls("editMessageText")} == {
        replies[0].result["message_id"]
    }
    assert "returns.md, vpn.md" in replies[0].visible_text


async def test_an_album_without_the_command_in_a_group_is_left_alone_and_a_stranger_is_refused_once(
    start_bot: BotStarter, telegram_server: FakeTelegramServer
) -> None:
    tg = telegram_server
    tg.add_group(GROUP)
    tg.add_file("f-returns", RETURNS_MD.encode(), "returns.md")
    tg.add_file("f-vpn", VPN_MD.encode(), "vpn.md")
    async with start_bot(album_window_s=0.3):
        # People sharing files in the group: not for the bot.
        for file_id in ("f-returns", "f-vpn"):
            tg.push_message(
                chat_id=GROUP, user_id=USER_ID, document=tg.document_for(file_id), media_group_id="shared"
            )
        # A non-admin sends an album to the bot privately: one refusal for the set.
        for file_id in ("f-returns", "f-vpn"):
            tg.push_message(
                chat_id=USER_ID, user_id=USER_ID, document=tg.document_for(file_id), media_group_id="private"
            )
        refusal = await tg.wait_for("sendMessage", lambda r: r.chat_id == USER_ID)
        assert "Only the bot's administrators" in refusal.visible_text
        # The admin's own private album is indexed without any caption.
        for file_id in ("f-returns", "f-vpn"):
            tg.push_message(
                chat_id=ADMIN_ID, user_id=ADMIN_ID, document=tg.document_for(file_id), media_group_id="mine"
            )
        summary = await tg.wait_for("editMessageText", lambda r: "Album" in (r.text or ""))
        assert summary.chat_id == ADMIN_ID
        assert (summary.text or "").count("Added “") == 2
    assert [r for r in tg.calls("sendMessage") if r.chat_id == GROUP] == []
    assert len([r for r in tg.calls("sendMessage") if r.chat_id == USER_ID]) == 1


async def test_a_group_album_that_arrives_as_one_file_says_why(
    start_bot: BotStarter, telegram_server: FakeTelegramServer
) -> None:
    tg = telegram_server
    tg.add_file("f-returns", RETURNS_MD.encode(), "returns.md")
    async with start_bot(album_window_s=0.3):
        # Privacy mode: Telegram delivers only the captioned file of the album.
        _send_captioned_first_file(tg, "f-returns", "album-2")
        hint = await tg.wait_for("sendMessage", lambda r: "Only this file of the album" in (r.text or ""))
        assert "reply /upload to each" in hint.visible_text
        done = await tg.wait_for("editMessageText", lambda r: "Added “" in (r.text or ""))
        assert "Правила возврата" in done.visible_text
