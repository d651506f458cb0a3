"""The bot as operators run it: real `python -m bot run|worker` processes in webhook or polling mode,
sharing one real Redis, against the fake Bot API and LLM servers; probed, scraped and stopped with SIGTERM."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import aiohttp
import pytest

from bot.embed.embedder import Embedder
from bot.storage.redis_server import RedisServerProcess
from tests.conftest import ADMIN_ID, BOT_TOKEN, USER_ID, free_port
from tests.e2e.conftest import BotStarter
from tests.support.bot_process import LLM_API_KEY, WEBHOOK_SECRET, BotProcess
from tests.support.corpus import RETURNS_MD
from tests.support.llm_server import GroundedLLMServer
from tests.support.telegram_server import FakeTelegramServer

pytestmark = pytest.mark.usefixtures("classic_answers")


SECRETS = (BOT_TOKEN, LLM_API_KEY, WEBHOOK_SECRET)
QUESTION = "Какой срок возврата?"


@dataclass(frozen=True)
class Servers:
    """What every bot process here talks to: the fake Bot API, the LLM server, the session's Redis."""

    tmp_path: Path
    tg: FakeTelegramServer
    llm: GroundedLLMServer
    redis_url: str
    embedder: Embedder

    def env(self, **extra: str) -> dict[str, str]:
        return {
            "TELEGRAM_API_URL": self.tg.base_url,
            "LLM_BASE_URL": self.llm.base_url,
            "REDIS_URL": self.redis_url,
            **extra,
        }

    def webhook_env(self) -> dict[str, str]:
        return self.env(
            TELEGRAM_MODE="webhook", WEBHOOK_BASE_URL="https://bot.example.com", WEBHOOK_SECRET=WEBHOOK_SECRET
        )


@pytest.fixture
def servers(
    tmp_path: Path,
    redis_url: str,
    embedder: Embedder,
    telegram_server: FakeTelegramServer,
    llm_server: GroundedLLMServer,
) -> Servers:
    return Servers(tmp_path, telegram_server, llm_server, redis_url, embedder)


def _assert_clean_log(process: BotProcess) -> None:
    """No secret in any form, no traceback, every line JSON."""
    text = process.log_text()
    for secret in SECRETS:
        for form in (secret, quote(secret, safe="")):
            assert form not in text, f"{process.command} logged a secret"
    assert "Traceback" not in text, text
    assert process.log_records(), "nothing was logged"


async def _upload(tg: FakeTelegramServer, bot: BotProcess | None) -> None:
    tg.add_file("f-returns", RETURNS_MD.encode(), "returns.md")
    update = tg.push_message(
        chat_id=ADMIN_ID, user_id=ADMIN_ID, document=tg.document_for("f-returns"), language_code="ru"
    )
    if bot is not None:
        assert await bot.post_update(update) == 200
    done = await tg.wait_for("editMessageText", lambda r: ") добавлен" in (r.text or ""), timeout=60)
    assert "returns.md" in (done.text or "")


async def test_webhook_checks_the_secret_and_answers_each_update_once(
    servers: Servers,
) -> None:
    tg = servers.tg
    async with BotProcess(servers.tmp_path, **servers.webhook_env()) as bot:
        await bot.start(servers.embedder)
        registered = await tg.wait_for("setWebhook")
        assert registered.params["url"] == "https://bot.example.com/telegram/webhook"
        assert registered.params["secret_token"] == WEBHOOK_SECRET
        assert {"message", "callback_query"} <= set(registered.params["allowed_updates"])
        await _upload(tg, bot)

        update = tg.push_message(
            chat_id=USER_ID, user_id=USER_ID, text="Какой срок возврата?", language_code="ru"
        )
        assert await bot.post_update(update, secret=None) == 401
        assert await bot.post_update(update, secret="not-the-secret-0123456789") == 401
        await asyncio.sleep(0.5)
        assert tg.sent_messages(USER_ID) == [], "an update without the secret was processed"
        assert await bot.post_update(update) == 200
        assert await bot.post_update(update) == 200  # Telegram's retry of the same update
        reply = await tg.wait_for("sendMessage", lambda r: r.chat_id == USER_ID, timeout=30)
        assert "14 дней" in (reply.text or "")
        await asyncio.sleep(1.0)
        assert len(tg.sent_messages(USER_ID)) == 1

        assert await bot.metric("kb_questions_total", outcome="answered") == 1
        assert await bot.metric("kb_webhook_duplicate_updates_total") == 1
        assert await bot.metric("kb_llm_tokens_total", kind="prompt") > 0
        assert await bot.metric("kb_llm_tokens_total", kind="completion") > 0
        assert await bot.metric("kb_pass1_total") == 1
        assert await bot.metric("kb_stage_seconds_count", stage="answer") == 1
        assert await bot.metric("kb_stage_seconds_count", stage="send") >= 1
        assert await bot.metric("kb_ingest_jobs_total", state="done") == 1
        status, body = await bot.get("/readyz")
        assert status == 200
        assert json.loads(body)["checks"] == {"redis": "ok", "qdrant": "ok", "model": "ok"}
        assert await bot.stop() == 0
    _assert_clean_log(bot)
    records = bot.log_records()
    assert any(r.get("update_id") == update["update_id"] and r.get("chat_id") == USER_ID for r in records)


async def test_two_webhook_replicas_answer_an_update_once(
    servers: Servers,
) -> None:
    tg, env = servers.tg, servers.webhook_env()
    async with (
        BotProcess(servers.tmp_path / "a", **env) as first,
        BotProcess(servers.tmp_path / "b", **env) as second,
    ):
        await asyncio.gather(first.start(servers.embedder), second.start(servers.embedder))
        update = tg.push_message(
            chat_id=USER_ID, user_id=USER_ID, text="Какой срок возврата?", language_code="ru"
        )
        # A load balancer hands Telegram's delivery and its retry to different replicas.
        assert list(await asyncio.gather(first.post_update(update), second.post_update(update))) == [200, 200]
        await tg.wait_for("sendMessage", lambda r: r.chat_id == USER_ID, timeout=30)
        await asyncio.sleep(1.5)
        assert len(tg.sent_messages(USER_ID)) == 1
        questions = [
            await replica.metric("kb_questions_total", outcome="not_found") for replica in (first, second)
        ]
        assert sorted(questions) == [0, 1]
        assert list(await asyncio.gather(first.stop(), second.stop())) == [0, 0]
    _assert_clean_log(first)
    _assert_clean_log(second)


async def test_a_worker_process_takes_the_upload_a_bot_process_queued(
    servers: Servers,
) -> None:
    tg, env = servers.tg, servers.env()
    async with (
        BotProcess(servers.tmp_path / "bot", INGEST_IN_PROCESS="false", **env) as bot,
        BotProcess(servers.tmp_path / "worker", command="worker", **env) as worker,
    ):
        await asyncio.gather(bot.start(servers.embedder), worker.start(servers.embedder))
        await _upload(tg, None)  # polling: the bot takes the upload from getUpdates
        assert await worker.metric("kb_ingest_jobs_total", state="done") == 1
        assert await bot.metric("kb_ingest_jobs_total", state="done") == 0
        assert list(await asyncio.gather(bot.stop(), worker.stop())) == [0, 0]
    _assert_clean_log(bot)
    _assert_clean_log(worker)
    assert any(r.get("job_id") for r in worker.log_records()), "the worker's lines carry no job id"


async def test_sigterm_in_the_middle_of_an_answer_still_delivers_it(
    servers: Servers,
) -> None:
    tg = servers.tg
    async with BotProcess(servers.tmp_path, **servers.env()) as bot:
        await bot.start(servers.embedder)
        await _upload(tg, None)
        servers.llm.delay_s = 3.0  # per pass
        tg.push_message(chat_id=USER_ID, user_id=USER_ID, text=QUESTION, language_code="ru")
        await tg.wait_for("sendChatAction", lambda r: r.chat_id == USER_ID)  # answering has begun
        bot.terminate()
        assert tg.sent_messages(USER_ID) == [], "the answer was out before SIGTERM: not mid-answer"
        reply = await tg.wait_for("sendMessage", lambda r: r.chat_id == USER_ID, timeout=30)
        assert "14 дней" in (reply.text or "")
        assert await bot.wait() == 0
    _assert_clean_log(bot)


async def test_readyz_names_redis_while_it_is_down_and_recovers(
    start_bot: BotStarter, tmp_path: Path
) -> None:
    port = free_port()
    redis = RedisServerProcess(tmp_path / "own-redis", port=port, persist=False)
    url = await redis.start()
    http_port = free_port()
    try:
        async with start_bot(redis_url=url, http_port=http_port), aiohttp.ClientSession() as http:
            readyz = f"http://127.0.0.1:{http_port}/readyz"
            async with http.get(readyz) as response:
                assert response.status == 200
            await redis.stop()
            async with http.get(readyz) as response:
                assert response.status == 503
                checks = (await response.json())["checks"]
            assert checks["redis"] != "ok"
            assert checks["qdrant"] == checks["model"] == "ok"
            async with http.get(f"http://127.0.0.1:{http_port}/healthz") as response:
                assert response.status == 200  # alive, just not ready: no restart wanted
            redis = RedisServerProcess(tmp_path / "own-redis", port=port, persist=False)
            await redis.start()
            async with http.get(readyz) as response:
                assert response.status == 200
                assert (await response.json())["status"] == "ready"
    finally:
        await redis.stop()
