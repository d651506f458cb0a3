"""Redis stopping and restarting under a running bot (issue 12): questions are answered without history
meanwhile, an upload in progress finishes, and the upload worker lives on. The tests run a redis-server
of their own, so they can stop and restart it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from bot.storage.redis_server import RedisServerProcess
from tests.conftest import ADMIN_ID, USER_ID, free_port
from tests.e2e.conftest import BotStarter
from tests.e2e.test_group_helpdesk import GROUP_A, _ask, _replying_to
from tests.support.corpus import RETURNS_MD, VPN_MD
from tests.support.telegram_server import FakeTelegramServer
from tests.support.web_site import serve

pytestmark = pytest.mark.usefixtures("classic_answers")


class RestartableRedis:
    """A redis-server on a fixed port and folder that the test stops and starts again (AOF kept)."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder
        self.port = free_port()
        self._server = RedisServerProcess(folder, port=self.port)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> str:
        self._server = RedisServerProcess(self._folder, port=self.port)
        return await self._server.start()

    async def stop(self) -> None:
        await self._server.stop()


@pytest.fixture
async def own_redis(tmp_path: Path) -> AsyncIterator[RestartableRedis]:
    server = RestartableRedis(tmp_path / "own-redis")
    await server.start()
    yield server
    await server.stop()


async def test_questions_are_answered_while_redis_is_down_and_after_it_is_back(
    start_bot: BotStarter,
    telegram_server: FakeTelegramServer,
    own_redis: RestartableRedis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    tg = telegram_server
    async with start_bot(redis_url=own_redis.url, user_question_rate="100/minute"):
        tg.add_group(GROUP_A)
        asked = _ask(tg, GROUP_A, USER_ID, "/ask Какой срок возврата?")
        await tg.wait_for("sendMessage", _replying_to(asked))
        await own_redis.stop()
        # Redis is gone: group and private questions are still answered (no history, no limits).
        during = [_ask(tg, GROUP_A, USER_ID, f"/ask Вопрос {n}?") for n in range(2)]
        tg.push_message(chat_id=USER_ID, user_id=USER_ID, text="Какой срок возврата?", language_code="ru")
        for message in during:
            await tg.wait_for("sendMessage", _replying_to(message), timeout=30)
        await tg.wait_for("sendMessage", lambda r: r.chat_id == USER_ID, timeout=30)
        await own_redis.start()
        # Back: the pooled connections to the old server are stale; the next questions heal them.
        after = [_ask(tg, GROUP_A, USER_ID, f"/ask Ещё вопрос {n}?") for n in range(3)]
        for message in after:
            answer = await tg.wait_for("sendMessage", _replying_to(message), timeout=30)
            assert "пошло не так" not in answer.visible_text
    assert not [r for r in tg.sent_messages() if "пошло не так" in r.visible_text]
    outage_lines = [r for r in caplog.records if r.getMessage().startswith("Redis unavailable")]
    assert len(outage_lines) == 1  # logged once per outage, not once per question


async def test_an_upload_finishes_through_a_redis_outage_and_the_worker_lives_on(
    start_bot: BotStarter, telegram_server: FakeTelegramServer, own_redis: RestartableRedis
) -> None:
    tg = telegram_server
    restarted = asyncio.Event()

    async def restart_later() -> None:
        await asyncio.sleep(3)
        await own_redis.start()
        restarted.set()

    background: set[asyncio.Task[None]] = set()

    async def page(request: web.Request) -> web.Response:
        # Redis stops while the worker is inside the job (it is fetching this very page).
        await own_redis.stop()
        task = asyncio.create_task(restart_later())
        background.add(task)
        return web.Response(
            text=f"<html><body><article>{RETURNS_MD}</article></body></html>", content_type="text/html"
        )

    app = web.Application()
    app.router.add_get("/returns", page)
    async with serve(app) as site, start_bot(redis_url=own_redis.url, url_allow_private_networks=True):
        tg.push_message(chat_id=ADMIN_ID, user_id=ADMIN_ID, text=f"/add_url {site}/returns")
        done = await tg.wait_for("editMessageText", lambda r: "Added “" in (r.text or ""), timeout=40)
        assert "I can answer from it now." in done.visible_text
        await asyncio.wait_for(restarted.wait(), 30)
        # The worker survived: the next upload is taken and finished.
        tg.add_file("f-vpn", VPN_MD.encode(), "vpn.md")
        tg.push_message(chat_id=ADMIN_ID, user_id=ADMIN_ID, document=tg.document_for("f-vpn"))
        await tg.wait_for(
            "editMessageText",
            lambda r: "Added “" in (r.text or "") and "vpn.md" in (r.text or ""),
            timeout=40,
        )
