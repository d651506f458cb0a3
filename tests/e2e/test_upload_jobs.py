"""Uploads run as background jobs in Redis: progress is shown, and a restart never loses a job."""

from __future__ import annotations

import json

from aiohttp import web
from redis.asyncio import Redis

from bot.domain import GLOBAL_SCOPE
from bot.ingest.jobs import IngestJob
from bot.storage.job_queue import JobQueue
from tests.conftest import ADMIN_ID, USER_ID
from tests.e2e.conftest import BotStarter
from tests.support.corpus import RETURNS_MD, VPN_MD
from tests.support.llm_server import GroundedLLMServer
from tests.support.telegram_server import ANSWER_METHODS, FakeTelegramServer
from tests.support.web_site import serve


async def test_an_upload_shows_its_stages_then_a_summary(
    start_bot: BotStarter, telegram_server: FakeTelegramServer
) -> None:
    tg = telegram_server
    async with start_bot(upload_progress_interval_s=0):
        tg.add_file("f-returns", RETURNS_MD.encode(), "returns.md")
        tg.push_message(chat_id=ADMIN_ID, user_id=ADMIN_ID, document=tg.document_for("f-returns"))
        queued = await tg.wait_for("sendMessage", lambda r: r.chat_id == ADMIN_ID)
        assert queued.visible_text == "⏳ returns.md: in the queue…"
        summary = await tg.wait_for("editMessageText", lambda r: "Added “" in (r.text or ""))
    edits = [r.visible_text for r in tg.calls("editMessageText")]
    # One message, edited in place through every stage.
    assert {r.int_param("message_id") for r in tg.calls("editMessageText")} == {queued.result["message_id"]}
    assert edits == [
        "⏳ returns.md: downloading…",
        "⏳ returns.md: reading the text…",
        "⏳ returns.md: preparing for search (0/2)…",
        "⏳ returns.md: saving…",
        summary.visible_text,
    ]


def _job(tg: FakeTelegramServer, file_id: str, name: str, data: bytes, message_id: int) -> IngestJob:
    tg.add_file(file_id, data, name)
    return IngestJob(
        file_name=name,
        scope=GLOBAL_SCOPE,
        uploaded_by=ADMIN_ID,
        chat_id=ADMIN_ID,
        progress_message_id=message_id,
        locale="en",
        file_id=file_id,
    )


async def test_jobs_left_by_a_crashed_worker_are_resumed_or_reported(
    start_bot: BotStarter, telegram_server: FakeTelegramServer, redis: Redis
) -> None:
    tg = telegram_server
    # An upload that kept killing its workers: taken four times, never finished.
    await JobQueue(redis, consumer="w", stale_after_s=0).enqueue(
        _job(tg, "f-returns", "returns.md", RETURNS_MD.encode(), 102).to_payload()
    )
    for attempt in range(4):
        assert await JobQueue(redis, consumer=f"crashed-{attempt}", stale_after_s=0).next(block_s=0.1)
    # An upload that was in progress in a replica that died.
    dead = JobQueue(redis, consumer="crashed-replica", stale_after_s=3600)
    await dead.enqueue(_job(tg, "f-vpn", "vpn.md", VPN_MD.encode(), 101).to_payload())
    claimed = await dead.next(block_s=0.1)
    assert claimed is not None
    assert claimed.payload["file_name"] == "vpn.md"

    async with start_bot(ingest_stale_after_s=0):
        # The progress messages of that replica are gone here, so the news comes as new messages.
        given_up = await tg.wait_for("sendMessage", lambda r: "returns.md" in (r.text or ""))
        assert "interrupted by bot restarts several times" in given_up.visible_text
        resumed = await tg.wait_for("sendMessage", lambda r: "vpn.md" in (r.text or ""))
        assert "Added “VPN setup guide”" in (resumed.text or "")

        tg.push_message(chat_id=ADMIN_ID, user_id=ADMIN_ID, text="/docs")
        docs = await tg.wait_for(
            "sendMessage", lambda r: r.chat_id == ADMIN_ID and "Documents" in (r.text or "")
        )
        assert "VPN setup guide" in docs.visible_text
        assert "Правила возврата" not in docs.visible_text
    # Both jobs are settled: nothing is left for the next start.
    assert await JobQueue(redis, consumer="next-start", stale_after_s=0).next(block_s=0.1) is None


ARTICLE = """<html><head><title>Возврат товара</title></head><body>
<nav><a href="/">Главная</a> | <a href="/shop">Магазин</a> | <a href="/contacts">Контакты</a></nav>
<article><h1>Возврат товара</h1>
<p>Вернуть товар надлежащего качества можно в течение 14 дней после покупки, сохранив чек.</p>
<p>Деньги возвращаются на карту, с которой была оплата, в течение 10 рабочих дней.</p></article>
<footer>© Магазин, все права защищены. Подпишитесь на рассылку!</footer>
<script>trackVisitor("secret-token")</script></body></html>"""


async def test_admins_add_web_pages_by_url(
    start_bot: BotStarter, telegram_server: FakeTelegramServer, llm_server: GroundedLLMServer
) -> None:
    tg = telegram_server

    async def article(_: web.Request) -> web.Response:
        return web.Response(text=ARTICLE, content_type="text/html")

    app = web.Application()
    app.router.add_get("/returns", article)
    async with serve(app) as site:
        # By default a private address (here 127.0.0.1) is refused before anything is fetched.
        async with start_bot():
            tg.push_message(chat_id=ADMIN_ID, user_id=ADMIN_ID, text=f"/add_url {site}/returns")
            refused = await tg.wait_for("sendMessage", lambda r: r.chat_id == ADMIN_ID)
            assert "can't add this address" in refused.visible_text
            assert "private or reserved" in refused.visible_text

        async with start_bot(url_allow_private_networks=True):
            tg.push_message(chat_id=USER_ID, user_id=USER_ID, text=f"/add_url {site}/returns")
            assert (
                "Only the bot's administrators"
                in (await tg.wait_for("sendMessage", lambda r: r.chat_id == USER_ID)).visible_text
            )
            tg.push_message(chat_id=ADMIN_ID, user_id=ADMIN_ID, text=f"/add_url {site}/returns")
            done = await tg.wait_for(
                "editMessageText", lambda r: r.chat_id == ADMIN_ID and "⏳" not in (r.text or "")
            )
            assert "Added “Возврат товара”" in (done.text or "")
            tg.push_message(
                chat_id=ADMIN_ID, user_id=ADMIN_ID, text="Сколько дней на возврат?", language_code="ru"
            )
            answer = await tg.wait_for(
                ANSWER_METHODS, lambda r: r.chat_id == ADMIN_ID and "Источники" in (r.text or "")
            )
            assert "14 дней" in answer.visible_text
            # The source names the page by its title (the address only for a page without one).
            assert "Возврат товара" in answer.visible_text.split("Источники", 1)[1]
    # Menus, footers and scripts never reach the model.
    prompts = json.dumps(llm_server.requests, ensure_ascii=False)
    assert "Возврат товара" in prompts
    for boilerplate in ("Контакты", "Подпишитесь", "secret-token"):
        assert boilerplate not in prompts


async def test_sending_a_new_version_of_a_file_replaces_it(
    start_bot: BotStarter, telegram_server: FakeTelegramServer
) -> None:
    tg = telegram_server
    async with start_bot():
        for file_id, text in (("v1", RETURNS_MD), ("v2", RETURNS_MD.replace("14 дней", "30 дней"))):
            tg.add_file(file_id, text.encode(), "returns.md")
            tg.push_message(chat_id=ADMIN_ID, user_id=ADMIN_ID, document=tg.document_for(file_id))
            await tg.wait_for("editMessageText", lambda r: "Added “" in (r.text or ""))
        summary = tg.calls("editMessageText")[-1].visible_text
        assert "It replaces the previous version of this file" in summary
        tg.push_message(chat_id=ADMIN_ID, user_id=ADMIN_ID, text="/docs")
        listing = await tg.wait_for("sendMessage", lambda r: "Documents (1)" in (r.text or ""))
        assert "returns.md" in listing.visible_text
