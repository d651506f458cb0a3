"""The Telegram side of ingestion jobs: where a job's bytes come from, and one progress message per
upload, edited at most every few seconds, ending in a summary."""

from __future__ import annotations

import asyncio
import contextlib
import html
import io
import logging
import time
from collections.abc import Callable, Sequence
from typing import Protocol

import aiohttp
from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from aiogram.methods import EditMessageText, SendMessage

from bot.cancellation import cancel_and_wait
from bot.delivery.outbox import Delivery, DeliveryFailedError, Outbox, Part
from bot.handlers.sending import unchanged_is_fine
from bot.ingest.document import (
    CorruptDocumentError,
    DocumentError,
    DocumentTooLargeError,
    EmptyDocumentError,
    PasswordProtectedError,
    ScanNeedsOcrError,
    UnsupportedFormatError,
)
from bot.ingest.freshness import SiteReport
from bot.ingest.jobs import AlbumOutcome, FetchedFile, FetchError, IngestJob, Stage
from bot.ingest.pipeline import FileTooLargeError, IngestResult
from bot.ingest.web import (
    AddressRefusedError,
    HTTPStatusError,
    PageTooLargeError,
    PageUnreachableError,
    TooManyRedirectsError,
    WebFetchError,
    fetch_page,
)

log = logging.getLogger(__name__)

Translate = Callable[..., str]  # (key, **variables) -> text in the job's locale


class JobFiles:
    """A job's bytes: a Telegram document through the Bot API, or a web page fetched directly."""

    def __init__(self, bot: Bot, *, max_bytes: int, allow_private_urls: bool) -> None:
        self._bot = bot
        self._max_bytes = max_bytes
        self._allow_private_urls = allow_private_urls

    async def fetch(self, job: IngestJob) -> FetchedFile:
        if job.url is not None:
            try:
                page = await fetch_page(
                    job.url, max_bytes=self._max_bytes, allow_private=self._allow_private_urls
                )
            except WebFetchError as exc:
                raise FetchError(str(exc)) from exc
            return FetchedFile(page.data, web_url=page.url, content_type=page.content_type)
        if job.file_id is None:
            raise FetchError(f"job {job.job_id} has nothing to download")
        buffer = io.BytesIO()
        try:
            await self._bot.download(job.file_id, destination=buffer)
        except (TelegramAPIError, aiohttp.ClientError, TimeoutError) as exc:
            # Never str(exc): an aiohttp error names the file URL, and that URL holds the bot token.
            raise FetchError(f"download of {job.file_name} failed: {_describe(exc)}") from exc
        return FetchedFile(buffer.getvalue())


def _describe(exc: BaseException) -> str:
    """A download failure in words that carry no URL (and so no token)."""
    if isinstance(exc, aiohttp.ClientResponseError):
        return f"HTTP {exc.status} {exc.message}"
    if isinstance(exc, TelegramAPIError):
        return exc.message
    return type(exc).__name__


class RoomCheck(Protocol):
    async def has_room(self, chat_id: int) -> bool: ...


class TelegramProgressReporter:
    """Edits the upload's progress message; stage updates are throttled, the final one always goes.

    Never blocks the worker on one chat's send budget (issue 12): a stage update is skipped when the
    group's budget is spent (`room`), and the final summary goes through the outbox in the background
    (kept until Telegram accepts it), so the next chat's job starts at once.
    """

    def __init__(
        self,
        bot: Bot,
        translate: Callable[[str], Translate],
        min_interval_s: float = 3.0,
        *,
        room: RoomCheck | None = None,
        outbox: Outbox | None = None,
    ) -> None:
        self._bot = bot
        self._translate = translate  # locale -> translate function
        self._min_interval_s = min_interval_s
        self._last_edit: dict[str, float] = {}
        self._room = room
        self._outbox = outbox
        self._finals: set[asyncio.Task[None]] = set()

    async def progress(self, job: IngestJob, stage: Stage, done: int = 0, total: int = 0) -> None:
        now = time.monotonic()
        # The clock starts when the job does: a small file goes straight from "queued" to the summary.
        if now - self._last_edit.setdefault(job.job_id, now) < self._min_interval_s:
            return
        self._last_edit[job.job_id] = now
        if job.chat_id < 0 and self._room is not None and not await self._room.has_room(job.chat_id):
            return  # the group's budget is spent: skip this stage rather than wait for a turn
        t = self._translate(job.locale)
        await self._edit(
            job, t(f"upload-stage-{stage}", name=html.escape(job.file_name), done=done, total=total)
        )

    async def finished(self, job: IngestJob, result: IngestResult) -> None:
        self._last_edit.pop(job.job_id, None)
        await self._final(job, upload_result_text(self._translate(job.locale), result))

    async def failed(self, job: IngestJob, error: BaseException | None) -> None:
        self._last_edit.pop(job.job_id, None)
        await self._final(job, failure_text(self._translate(job.locale), job, error))

    async def album_finished(self, job: IngestJob, outcomes: Sequence[AlbumOutcome]) -> None:
        self._last_edit.pop(job.job_id, None)
        t = self._translate(job.locale)
        parts = [t("upload-album-done", count=len(outcomes))]
        for outcome in outcomes:
            if outcome.result is not None:
                parts.append(upload_result_text(t, outcome.result))
            else:
                parts.append(failure_text(t, outcome.part, outcome.error))
        await self._final(job, "\n\n".join(parts))

    async def site_finished(self, job: IngestJob, report: SiteReport) -> None:
        self._last_edit.pop(job.job_id, None)
        t = self._translate(job.locale)
        text = t(
            "site-done",
            url=html.escape(report.url),
            indexed=report.indexed,
            unchanged=report.unchanged,
            failed=len(report.failed),
            disallowed=report.disallowed,
            found_by=report.discovered_by,
        )
        # A few reasons are enough to act on; the rest are like them.
        for url, error in report.failed[:5]:
            text += "\n" + t("site-page-failed", url=html.escape(url), reason=page_reason(t, error))
        await self._final(job, text)

    async def _final(self, job: IngestJob, text: str) -> None:
        if self._outbox is None:
            await self._edit(job, text)
            return
        # Edited in place; if the admin deleted the progress message, said in a new one.
        part = Part(
            primary=EditMessageText(chat_id=job.chat_id, message_id=job.progress_message_id, text=text),
            fallbacks=[[SendMessage(chat_id=job.chat_id, text=text, message_thread_id=job.thread_id)]],
        )
        task = asyncio.create_task(self._deliver(Delivery(chat_id=job.chat_id, parts=[part])))
        self._finals.add(task)
        task.add_done_callback(self._finals.discard)

    async def close(self) -> None:
        """At shutdown: summaries still on their way stay in the outbox and go out after the restart."""
        await cancel_and_wait(list(self._finals))

    async def _deliver(self, delivery: Delivery) -> None:
        assert self._outbox is not None
        with contextlib.suppress(DeliveryFailedError):  # logged by the outbox
            await self._outbox.deliver(self._bot, delivery)

    async def _edit(self, job: IngestJob, text: str) -> None:
        try:
            with unchanged_is_fine():
                await self._bot.edit_message_text(
                    text=text, chat_id=job.chat_id, message_id=job.progress_message_id
                )
        except TelegramBadRequest as exc:
            if "message to edit not found" not in exc.message:
                raise
            # The admin deleted the progress message: say it in a new one instead.
            await self._bot.send_message(job.chat_id, text, message_thread_id=job.thread_id)


def failure_text(t: Translate, job: IngestJob, error: BaseException | None) -> str:
    """Why a job (or one file of an album) was not indexed; `error` None: interrupted too often."""
    name = html.escape(job.file_name)
    if error is None:
        return t("upload-interrupted", name=name)
    if isinstance(error, FetchError) and job.url is not None:
        return t("url-fetch-failed", url=name, reason=web_reason(t, error))
    if isinstance(error, FetchError):
        return t("upload-download-failed", name=name)
    if isinstance(error, DocumentError):
        return document_error_text(t, error, job.file_name)
    return t("upload-failed", name=name)


def web_reason(t: Translate, error: BaseException) -> str:
    """Why a web address was refused or not loaded, in the admin's language (the exceptions carry
    English for the logs). Looks through FetchError to the WebFetchError that caused it."""
    cause = error if isinstance(error, WebFetchError) else error.__cause__
    if isinstance(cause, HTTPStatusError):
        return t("web-reason-http-status", status=str(cause.status))
    if isinstance(cause, PageTooLargeError):
        return t("web-reason-too-large", max_mb=str(cause.limit // (1024 * 1024)))
    if isinstance(cause, AddressRefusedError):
        if cause.host is None:
            return t("web-reason-not-http")
        return t("web-reason-private", host=html.escape(cause.host))
    if isinstance(cause, PageUnreachableError):
        return t("web-reason-unreachable")
    if isinstance(cause, TooManyRedirectsError):
        return t("web-reason-redirects")
    log.info("web address not loaded: %s", error)  # the English detail stays in the log
    return t("web-reason-unreadable")


def page_reason(t: Translate, error: Exception) -> str:
    """Why one page of /add_site was not added, in the admin's language (a fetch or a parse failure)."""
    if isinstance(error, EmptyDocumentError):
        return t("web-reason-no-text")
    if isinstance(error, DocumentError):
        log.info("page not indexed: %s", error)
        return t("web-reason-unreadable")
    return web_reason(t, error)


def upload_result_text(t: Translate, result: IngestResult) -> str:
    doc = result.document
    if result.already_indexed:
        return t("upload-already", title=html.escape(doc.title), doc_id=doc.doc_id)
    text = t(
        "upload-done",
        title=html.escape(doc.title),
        name=html.escape(doc.file_name),
        pages=doc.pages or 0,
        chunks=doc.chunks,
        seconds=whole_seconds(result.seconds),
        doc_id=doc.doc_id,
    )
    for old in result.replaced:
        text += "\n" + t("upload-replaced", doc_id=old.doc_id, chunks=old.chunks)
    if result.warnings:
        items = [t(f"upload-warning-{w.kind.replace('_', '-')}", count=w.count) for w in result.warnings]
        text += "\n" + t("upload-warnings", items=", ".join(items))
    return text


def whole_seconds(seconds: float) -> int:
    """Seconds as the admin reads them: 0 means "under a second" in the catalogues, else rounded."""
    return 0 if seconds < 1 else round(seconds)


def too_large_text(t: Translate, size: int, limit: int) -> str:
    return t("upload-too-large", size_mb=f"{size / 1024 / 1024:.1f}", max_mb=f"{limit / 1024 / 1024:.0f}")


def document_error_text(t: Translate, exc: DocumentError, name: str) -> str:
    safe = html.escape(name)
    if isinstance(exc, FileTooLargeError):
        return too_large_text(t, exc.size, exc.limit)
    if isinstance(exc, UnsupportedFormatError):
        return t("upload-unsupported", name=safe)
    if isinstance(exc, ScanNeedsOcrError):
        return t("upload-scan-without-ocr", name=safe)
    if isinstance(exc, EmptyDocumentError):
        return t("upload-empty", name=safe)
    if isinstance(exc, PasswordProtectedError):
        return t("upload-password", name=safe)
    if isinstance(exc, DocumentTooLargeError):
        reason = t("upload-content-too-large-reason", reason=html.escape(str(exc)))
        return t("upload-content-too-large", name=safe, reason=reason)
    detail = str(exc) if isinstance(exc, CorruptDocumentError) else type(exc).__name__
    # The parsers' reasons are English; a catalogue may use them or say it in its own words.
    reason = t("upload-corrupt-reason", reason=html.escape(detail))
    return t("upload-corrupt", name=safe, reason=reason)
