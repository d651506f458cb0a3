"""Secrets stay secret (issue 12): the bot token and API keys appear in no log line, no message to a
user and no exception text, even when downloads, Telegram and the model fail."""

from __future__ import annotations

import logging
import traceback

import pytest

from bot.handlers.upload_jobs import JobFiles
from bot.ingest.jobs import FetchError, IngestJob
from bot.telegram_app import create_bot
from tests.conftest import ADMIN_ID, BOT_TOKEN, USER_ID, SettingsFactory
from tests.e2e.conftest import BotStarter
from tests.e2e.test_group_helpdesk import ADMIN_A, GROUP_A, _ask, _quiet
from tests.support.llm_server import GroundedLLMServer
from tests.support.telegram_server import FakeTelegramServer

LLM_KEY = "sk-live-0123456789abcdef"
CALLBACK_SECRET = "button-secret-9f8e7d6c"
SECRETS = [BOT_TOKEN, BOT_TOKEN.partition(":")[2], LLM_KEY, CALLBACK_SECRET]


class _NoPacing:
    async def wait_turn(self, chat_id: int) -> float:
        return 0.0


def _leaks(text: str) -> list[str]:
    return [secret for secret in SECRETS if secret in text]


async def test_a_failed_download_names_no_token(
    make_settings: SettingsFactory, telegram_server: FakeTelegramServer
) -> None:
    tg = telegram_server
    tg.add_file("gone", b"# text\n", "gone.md")
    tg.lose_file_content("gone")
    bot = create_bot(make_settings(telegram_api_url=tg.base_url), _NoPacing())
    job = IngestJob(file_name="gone.md", scope="global", uploaded_by=1, chat_id=1, progress_message_id=1)
    try:
        with pytest.raises(FetchError) as caught:
            await JobFiles(bot, max_bytes=1_000_000, allow_private_urls=False).fetch(
                IngestJob(**{**job.to_payload(), "file_id": "gone"})
            )
    finally:
        await bot.session.close()
    assert "404" in str(caught.value)
    assert _leaks(str(caught.value)) == []


async def test_no_secret_in_any_log_line_or_reply_when_things_fail(
    start_bot: BotStarter,
    telegram_server: FakeTelegramServer,
    llm_server: GroundedLLMServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    tg = telegram_server
    caplog.set_level(logging.DEBUG)
    async with start_bot(
        llm_api_key=LLM_KEY, callback_secret=CALLBACK_SECRET, user_question_rate="100/minute"
    ):
        tg.add_group(GROUP_A)
        tg.set_chat_member(GROUP_A, ADMIN_A, "administrator")
        # A download that fails (the Bot API file URL carries the token), in private and in a group.
        tg.add_file("gone", b"# text\n", "gone.md")
        tg.lose_file_content("gone")
        tg.push_message(
            chat_id=ADMIN_ID, user_id=ADMIN_ID, document=tg.document_for("gone"), language_code="en"
        )
        await tg.wait_for("editMessageText", lambda r: r.chat_id == ADMIN_ID and "gone.md" in (r.text or ""))
        # The model failing, and Telegram failing a send.
        llm_server.fail_next(500, times=3)
        tg.push_message(chat_id=USER_ID, user_id=USER_ID, text="What is the return period?")
        tg.fail_next("sendMessage", error_code=502, description="Bad Gateway", retry_after=None)
        _ask(tg, GROUP_A, ADMIN_A, "/ask Какой срок возврата?")
        await _quiet(tg)
    lines = [caplog.text]
    for record in caplog.records:
        lines.append(record.getMessage())
        if record.exc_info:
            lines.append(
                "".join(traceback.format_exception(*record.exc_info)) if record.exc_text is None else ""
            )
            lines.append(record.exc_text or "")
    assert any("gone.md" in line for line in lines)  # the failure was logged...
    assert [line for line in lines if _leaks(line)] == []  # ...without a secret
    for request in tg.requests:
        assert _leaks(str(request.params)) == [], request.method
