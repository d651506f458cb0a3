"""Secrets never reach a log line: every record is redacted as it is created (issue 12).

A token can hide in an exception's text (a failed file download names its URL, and the Bot API URL
contains the bot token), in a traceback, or in a library's own log line. Redacting when the record is
made covers our loggers, third-party loggers and formatted tracebacks alike, whatever handler or
formatter runs later.
"""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

from bot.config import Settings

MASK = "[REDACTED]"
_MIN_SECRET_CHARS = 6  # shorter "secrets" (the EMPTY key of a local vLLM) would blank out ordinary words


class Redactor:
    """Replaces every occurrence of the given secrets in a text with `[REDACTED]`: each secret as
    written, URL-encoded (a token inside a query string) and JSON-escaped (inside a JSON log line).

    The one redaction rule of the process: the record factory (`install_redaction`) and the log
    formatter (`bot.telemetry.logs`) both apply it.
    """

    def __init__(self, secrets: Iterable[str]) -> None:
        variants = {
            form
            for secret in secrets
            if len(secret) >= _MIN_SECRET_CHARS
            for form in (secret, quote(secret, safe=""), json.dumps(secret)[1:-1])
        }
        # Longest first, so a secret containing another is masked whole.
        self._variants = sorted(variants, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for variant in self._variants:
            if variant in text:
                text = text.replace(variant, MASK)
        return text


def secrets_of(settings: Settings) -> list[str]:
    """The values that must never be shown: every credential of the settings (`secret_values`: bot
    token, API keys, webhook secret, Redis password), the id-less half of the bot token (what the Bot
    API URL carries after 'bot'), and the button-signing secret."""
    values = settings.secret_values()
    if settings.bot_token is not None:
        values.append(settings.bot_token.get_secret_value().partition(":")[2])
    if settings.callback_secret is not None:
        values.append(settings.callback_secret.get_secret_value())
    return values


_installed: Redactor | None = None


def install_redaction(redact: Redactor) -> None:
    """Wraps the log-record factory so every record's message and traceback are redacted.

    Idempotent: a second call replaces the secrets, never stacks a second wrapper.
    """
    global _installed
    first = _installed is None
    _installed = redact
    if not first:
        return
    make_record = logging.getLogRecordFactory()

    def redacting_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        assert _installed is not None
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: leave it for the handler to report
            return record
        record.msg, record.args = _installed(message), None
        if record.exc_info and record.exc_info[1] is not None:
            # Formatters reuse exc_text when it is set, so the traceback is rendered (and redacted) here.
            record.exc_text = _installed("".join(traceback.format_exception(*record.exc_info)).rstrip())
        if record.stack_info:
            record.stack_info = _installed(record.stack_info)
        return record

    logging.setLogRecordFactory(redacting_factory)
