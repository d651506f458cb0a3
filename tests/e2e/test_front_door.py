"""The first minutes of a new operator: missing settings, a wrong token, a model server that is down."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from bot.embed.embedder import Embedder
from tests.conftest import ADMIN_ID, BOT_TOKEN, MODEL_NAME, USER_ID, free_port, model_path
from tests.e2e.conftest import BotStarter
from tests.e2e.test_cli import _cli
from tests.support.bot_process import BotProcess
from tests.support.corpus import RETURNS_MD
from tests.support.telegram_server import FakeTelegramServer

# Nothing from the developer's own environment may leak into a "fresh machine" run.
_CLEAN = {"BOT_TOKEN": "", "LLM_BASE_URL": "", "HF_HUB_OFFLINE": "1", "LOG_LEVEL": "WARNING"}


def _one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


async def test_run_without_settings_names_bot_token_in_one_line(tmp_path: Path) -> None:
    result = await _cli(tmp_path, _CLEAN, "run")
    assert result.returncode == 2
    line = _one_line(result.stderr)
    assert "BOT_TOKEN" in line
    assert ".env" in line
    assert not (tmp_path / "data").exists()  # checked before any download, migration or embedded server


async def test_run_without_a_model_server_names_llm_base_url(tmp_path: Path) -> None:
    result = await _cli(tmp_path, {**_CLEAN, "BOT_TOKEN": BOT_TOKEN}, "run")
    assert result.returncode == 2
    assert "LLM_BASE_URL" in _one_line(result.stderr)


async def test_a_rejected_token_is_one_line_naming_bot_token(
    tmp_path: Path, telegram_server: FakeTelegramServer
) -> None:
    env = {
        **_CLEAN,
        "BOT_TOKEN": "123456:WRONG-token",
        "LLM_BASE_URL": f"http://127.0.0.1:{free_port()}/v1",
        "TELEGRAM_API_URL": telegram_server.base_url,
        "QDRANT_PATH": str(tmp_path / "qdrant"),
    }
    result = await _cli(tmp_path, env, "run")
    assert result.returncode == 2
    line = _one_line(result.stderr)  # no traceback, no "Unclosed client session"
    assert "BOT_TOKEN" in line
    assert "rejected" in line


async def test_an_unreachable_bot_api_server_is_one_line_naming_it(tmp_path: Path) -> None:
    # No network to Telegram (or a TELEGRAM_API_URL where nothing listens): not a 40-line traceback.
    telegram_url = f"http://127.0.0.1:{free_port()}"
    env = {
        **_CLEAN,
        "BOT_TOKEN": BOT_TOKEN,
        "LLM_BASE_URL": f"http://127.0.0.1:{free_port()}/v1",
        "TELEGRAM_API_URL": telegram_url,
        "QDRANT_PATH": str(tmp_path / "qdrant"),
    }
    result = await _cli(tmp_path, env, "run")
    assert result.returncode == 1
    line = _one_line(result.stderr)
    assert telegram_url in line
    assert "TELEGRAM_API_URL" in line


@pytest.mark.parametrize(
    "command",
    [["run"], ["worker"], ["ask", "Какой срок возврата?"], ["refresh"], ["backup", "saved"]],
    ids=lambda command: command[0],
)
async def test_an_unreachable_redis_is_one_line_naming_redis_url_without_its_password(
    tmp_path: Path, telegram_server: FakeTelegramServer, command: list[str]
) -> None:
    # REDIS_URL pointing where no Redis listens (a typo, Redis not started yet): the operator gets one
    # line naming the setting, the address (its password hidden) and what to do, not a traceback.
    port = free_port()
    path = model_path()
    env = {
        **_CLEAN,
        "BOT_TOKEN": BOT_TOKEN,
        "LLM_BASE_URL": f"http://127.0.0.1:{free_port()}/v1",
        "TELEGRAM_API_URL": telegram_server.base_url,
        "QDRANT_PATH": str(tmp_path / "qdrant"),
        "REDIS_URL": f"redis://kb:S3cret-Redis-pass@127.0.0.1:{port}/0",
        "EMBEDDING_MODEL": MODEL_NAME,
        "EMBEDDING_MODEL_PATH": str(path) if path else "",
    }
    result = await _cli(tmp_path, env, *command)
    assert result.returncode == 1
    line = _one_line(result.stderr)
    assert f"REDIS_URL=redis://kb:***@127.0.0.1:{port}/0" in line
    assert "not reachable" in line
    assert "start Redis" in line
    assert "S3cret-Redis-pass" not in result.stderr + result.stdout


async def test_a_model_server_that_is_down_is_named_at_start_without_blocking_it(
    start_bot: BotStarter, telegram_server: FakeTelegramServer, caplog: pytest.LogCaptureFixture
) -> None:
    dead = f"http://127.0.0.1:{free_port()}/v1"
    with caplog.at_level(logging.WARNING):
        async with start_bot(llm_base_url=dead, llm_model="vikhr-test"):
            # Start went on: the bot polls and answers commands while the model is away.
            telegram_server.push_message(chat_id=7, user_id=7, text="/start", language_code="en")
            await telegram_server.wait_for("sendMessage", lambda r: r.chat_id == 7)
            for _ in range(100):
                if any(dead in r.getMessage() for r in caplog.records):
                    break
                await asyncio.sleep(0.05)
    warning = next(r.getMessage() for r in caplog.records if dead in r.getMessage())
    assert "vikhr-test" in warning
    assert "not answering" in warning


async def test_run_on_a_fresh_data_folder_with_the_model_down_starts_answers_and_stops_cleanly(
    tmp_path: Path, redis_url: str, embedder: Embedder, telegram_server: FakeTelegramServer
) -> None:
    """A new operator's first `run`: no `migrate` before it, no model server yet. The bot creates the
    schema itself, names the model server's URL and model in its warning, still takes a document,
    tells the asker the model is away, logs the URL with the failure, and stops without a traceback."""
    tg = telegram_server
    tg.rich_messages = False  # the model error is read as a sendMessage call
    dead = f"http://127.0.0.1:{free_port()}/v1"
    env = {
        "TELEGRAM_API_URL": tg.base_url,
        "LLM_BASE_URL": dead,
        "LLM_MODEL": "vikhr-test",
        "LLM_TIMEOUT_S": "2",
        "REDIS_URL": redis_url,
    }
    async with BotProcess(tmp_path / "fresh", **env) as bot:
        await bot.start(embedder, migrate=False)
        tg.add_file("f-returns", RETURNS_MD.encode(), "returns.md")
        tg.push_message(
            chat_id=ADMIN_ID, user_id=ADMIN_ID, document=tg.document_for("f-returns"), language_code="ru"
        )
        await tg.wait_for("editMessageText", lambda r: ") добавлен" in (r.text or ""), timeout=60)
        tg.push_message(chat_id=USER_ID, user_id=USER_ID, text="Какой срок возврата?", language_code="ru")
        reply = await tg.wait_for("sendMessage", lambda r: r.chat_id == USER_ID, timeout=60)
        assert "Языковая модель сейчас не отвечает" in (reply.text or "")
        assert await bot.stop() == 0
    messages = [str(record.get("event", "")) for record in bot.log_records()]
    start_warning = [m for m in messages if dead in m and "vikhr-test" in m and "checking again" in m]
    assert start_warning, bot.log_text()
    assert any(dead in m and "failed" in m for m in messages), bot.log_text()  # the question's failure
    assert "Traceback" not in bot.log_text()


async def test_a_redis_password_given_as_a_url_argument_is_hidden_too(
    tmp_path: Path, telegram_server: FakeTelegramServer
) -> None:
    # redis-py also takes the password as an argument of the URL (`?password=`, passed to the pool).
    port = free_port()
    env = {
        **_CLEAN,
        "BOT_TOKEN": BOT_TOKEN,
        "TELEGRAM_API_URL": telegram_server.base_url,
        "QDRANT_PATH": str(tmp_path / "qdrant"),
        "REDIS_URL": f"redis://127.0.0.1:{port}/0?password=S3cret-Redis-pass&socket_timeout=5",
    }
    result = await _cli(tmp_path, env, "refresh")
    assert result.returncode == 1
    line = _one_line(result.stderr)
    assert f"REDIS_URL=redis://127.0.0.1:{port}/0?password=***&socket_timeout=5" in line
    assert "S3cret-Redis-pass" not in result.stderr + result.stdout
