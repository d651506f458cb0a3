"""Operations settings refuse contradictions, and the log formatter never prints a secret."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.config import ConfigError, load_settings
from bot.logging_setup import MASK as REDACTED
from bot.logging_setup import Redactor
from bot.telemetry.logs import RedactingFormatter, configure_logging, log_context

SECRET = "webhook-secret-0123456789abcdef"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"telegram_mode": "webhook"}, "TELEGRAM_MODE=webhook needs WEBHOOK_BASE_URL and WEBHOOK_SECRET"),
        (
            {"telegram_mode": "webhook", "webhook_base_url": "https://bot.example.com"},
            "TELEGRAM_MODE=webhook needs WEBHOOK_BASE_URL and WEBHOOK_SECRET",
        ),
        ({"webhook_secret": "short"}, "WEBHOOK_SECRET: must be 16-256 characters"),
        ({"webhook_secret": "has spaces in it, 0123456789"}, "WEBHOOK_SECRET: must be 16-256 characters"),
        (
            {"redis_url": "redis://r:6379/0", "redis_sentinels": "s:26379", "redis_sentinel_master": "kb"},
            "set either REDIS_URL or REDIS_SENTINELS, not both",
        ),
        ({"redis_sentinels": "s:26379"}, "REDIS_SENTINELS and REDIS_SENTINEL_MASTER go together"),
        ({"redis_sentinels": "s26379", "redis_sentinel_master": "kb"}, "REDIS_SENTINELS: must be"),
        ({"redis_password": "redis-password-123"}, "REDIS_PASSWORD is for Sentinel"),
        ({"log_format": "xml"}, "LOG_FORMAT"),
    ],
)
def test_contradictory_operations_settings_are_refused(
    overrides: dict[str, str], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as error:
        load_settings(**overrides)
    assert message in str(error.value)


def test_webhook_and_sentinel_settings_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(
        telegram_mode="webhook",
        webhook_base_url="https://bot.example.com/",
        webhook_secret=SECRET,
        redis_sentinels="sentinel-1:26379, sentinel-2:26380",
        redis_sentinel_master="kb",
        redis_password="redis-password-123",
    )
    assert settings.webhook_base_url == "https://bot.example.com"
    assert settings.sentinel_addresses == [("sentinel-1", 26379), ("sentinel-2", 26380)]
    assert {SECRET, "redis-password-123"} <= set(settings.secret_values())


@pytest.fixture(autouse=True)
def _keep_root_logging() -> Iterator[None]:
    """configure_logging replaces the root handlers; pytest's own must come back after each test."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def _formatted(fmt: str, message: str, *args: object, exc: BaseException | None = None) -> str:
    record = logging.LogRecord("bot.test", logging.ERROR, __file__, 1, message, args, None)
    if exc is not None:
        record.exc_info = (type(exc), exc, exc.__traceback__)
    configure_logging("INFO", "json" if fmt == "json" else "text", Redactor([SECRET]))
    formatter = logging.getLogger().handlers[0].formatter
    assert isinstance(formatter, RedactingFormatter)
    return formatter.format(record)


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_secrets_are_redacted_in_messages_urls_and_tracebacks(fmt: str) -> None:
    try:
        raise RuntimeError(f"setWebhook failed for secret_token={SECRET}")
    except RuntimeError as exc:
        line = _formatted(fmt, "calling %s", f"https://x/hook?token={SECRET}", exc=exc)
    assert SECRET not in line
    assert "RuntimeError: setWebhook failed for secret_token=" + REDACTED in line
    encoded = Redactor(["a/secret+with:chars"])("u=a%2Fsecret%2Bwith%3Achars")
    assert encoded == "u=" + REDACTED


def test_json_lines_carry_the_bound_ids() -> None:
    with log_context(update_id=17, chat_id=-100, job_id=None):
        line = _formatted("json", "answered")
    record = json.loads(line)
    assert (record["update_id"], record["chat_id"], record["event"]) == (17, -100, "answered")
    assert "job_id" not in record
