"""Logging: JSON or text lines through structlog's formatter, with the ids of the work in progress
(update, chat, job) from context variables, and every secret redacted from the finished line.

The code keeps using stdlib `logging.getLogger(__name__)`; structlog's `ProcessorFormatter` renders those
records, so aiogram's, aiohttp's and redis-py's own log lines get the same shape and the same redaction.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from typing import Literal

import structlog
from structlog.typing import Processor

from bot.logging_setup import Redactor


class RedactingFormatter(logging.Formatter):
    """Formats with `inner`, then applies `redact` to the finished line.

    Records are already redacted when made (`bot.logging_setup.install_redaction`); this second pass
    covers what a renderer adds after that, such as the traceback structlog's JSON renderer formats
    again from `exc_info`.
    """

    def __init__(self, inner: logging.Formatter, redact: Redactor) -> None:
        super().__init__()
        self._inner = inner
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        return self.redact(self._inner.format(record))


def configure_logging(level: str, fmt: Literal["text", "json"], redact: Redactor | None = None) -> None:
    """Sends every log record to stderr as one line (JSON objects with LOG_FORMAT=json).

    Each line carries the context bound with `log_context` (update_id, chat_id, job_id) and never any
    secret `redact` knows (`bot.logging_setup.secrets_of`: the bot token, API keys, the webhook and
    button secrets), also not inside URLs or tracebacks.
    """
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Processor = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False, exception_formatter=structlog.dev.plain_traceback)
    )
    inner = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            *([structlog.processors.format_exc_info] if fmt == "json" else []),
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter(inner, redact or Redactor(())))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


@contextlib.contextmanager
def log_context(**ids: object) -> Iterator[None]:
    """Adds `ids` (update_id=…, chat_id=…, job_id=…) to every log line written inside the block."""
    with structlog.contextvars.bound_contextvars(**{k: v for k, v in ids.items() if v is not None}):
        yield
