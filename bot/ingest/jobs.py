"""Uploads as background jobs: queued in Redis, run one at a time per process, reported as they go.

The bot replies at once and keeps serving everyone; the worker downloads, parses, embeds and stores,
reporting each stage. A job interrupted by a restart is resumed (ingestion is idempotent: chunks are
published only when all are stored, and identical content is recognised); a job that keeps failing
that way is reported as failed, never silently dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from bot.ingest.parsing import DocumentError
from bot.ingest.pipeline import IngestionService, IngestResult

log = logging.getLogger(__name__)

Stage = Literal["queued", "downloading", "parsing", "embedding", "storing"]


@dataclass(frozen=True)
class IngestJob:
    file_name: str
    scope: str
    uploaded_by: int | None
    chat_id: int  # where the progress message lives
    progress_message_id: int
    thread_id: int | None = None
    locale: str = "en"
    file_id: str | None = None  # a Telegram document...
    url: str | None = None  # ...or a web page
    size: int | None = None
    uploader_name: str | None = None
    job_id: str = dataclasses.field(default_factory=lambda: uuid.uuid4().hex[:12])

    def to_payload(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> IngestJob:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in payload.items() if key in names})


class QueuedJobLike(Protocol):
    @property
    def entry_id(self) -> str: ...
    @property
    def payload(self) -> dict[str, Any]: ...
    @property
    def deliveries(self) -> int: ...


class Queue(Protocol):
    async def enqueue(self, payload: dict[str, Any]) -> str: ...
    async def next(self, block_s: float) -> QueuedJobLike | None: ...
    async def touch(self, entry_id: str) -> None: ...
    async def done(self, entry_id: str, chat_id: int | None = None) -> None: ...
    async def reserve(self, chat_id: int, limit: int) -> dict[str, int] | None: ...
    async def release(self, chat_id: int) -> None: ...


@dataclass(frozen=True)
class FetchedFile:
    data: bytes
    web_url: str | None = None  # set for web pages: the address after redirects
    content_type: str | None = None


class JobSource(Protocol):
    async def fetch(self, job: IngestJob) -> FetchedFile: ...


class JobReporter(Protocol):
    async def progress(self, job: IngestJob, stage: Stage, done: int = 0, total: int = 0) -> None: ...
    async def finished(self, job: IngestJob, result: IngestResult) -> None: ...
    async def failed(self, job: IngestJob, error: BaseException | None) -> None:
        """`error` is None when restarts interrupted the job too many times."""


class FetchError(Exception):
    """The file or page could not be downloaded; the user should send it again."""


class QueueFullError(Exception):
    """This chat already has `limit` uploads waiting; the admin should wait for them to finish."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"{limit} uploads of this chat are already waiting")
        self.limit = limit


class IngestionJobs:
    def __init__(
        self,
        queue: Queue,
        ingestion: IngestionService,
        *,
        max_deliveries: int = 3,
        max_waiting_per_chat: int = 20,
    ) -> None:
        self._queue = queue
        self._ingestion = ingestion
        self._max_deliveries = max_deliveries
        self._max_waiting_per_chat = max_waiting_per_chat

    async def reserve(self, chat_id: int) -> int:
        """Takes a place in the queue for a new job of `chat_id`; returns how many jobs run before it
        (round-robin across chats, the running one included). `submit` the job or `release` the place.

        Raises QueueFullError when the chat already has INGEST_MAX_WAITING_PER_CHAT jobs waiting.
        """
        waiting = await self._queue.reserve(chat_id, self._max_waiting_per_chat)
        if waiting is None:
            raise QueueFullError(self._max_waiting_per_chat)
        mine = max(waiting.get(str(chat_id), 1), 1)
        # Our earlier jobs, and each other chat's jobs up to one per round until ours comes.
        return mine - 1 + sum(min(count, mine) for chat, count in waiting.items() if chat != str(chat_id))

    async def release(self, chat_id: int) -> None:
        await self._queue.release(chat_id)

    async def submit(self, job: IngestJob) -> None:
        await self._queue.enqueue(job.to_payload())

    async def run(self, source: JobSource, reporter: JobReporter, stop: asyncio.Event) -> None:
        """The worker loop: one job at a time (embedding is CPU-bound) until `stop` is set.

        Nothing ends it but `stop` or cancellation: a Redis outage or a bug in one job is logged (once
        per run of failures) and the loop carries on; an unacknowledged job stays queued and resumes.
        """
        failing = False
        while not stop.is_set():
            try:
                queued = await self._queue.next(block_s=1.0)
                if queued is not None:
                    await self._process(queued, source, reporter, stop)
            except Exception:
                if not failing:
                    log.exception("upload worker: queue unavailable; retrying every 5 s")
                failing = True
                await _sleep_unless(stop, 5.0)
            else:
                if failing:
                    log.warning("upload worker: queue reachable again")
                failing = False

    async def _process(
        self, queued: QueuedJobLike, source: JobSource, reporter: JobReporter, stop: asyncio.Event
    ) -> None:
        job = IngestJob.from_payload(queued.payload)
        if queued.deliveries > self._max_deliveries:
            log.error(
                "job %s (%s) was interrupted %d times; giving up",
                job.job_id,
                job.file_name,
                queued.deliveries,
            )
            await _report(reporter.failed(job, None))
            await self._acknowledge(queued.entry_id, job.chat_id, stop)
            return
        if queued.deliveries > 1:
            log.warning("resuming job %s (%s) after an interruption", job.job_id, job.file_name)
        heartbeat = _Heartbeat(lambda: self._queue.touch(queued.entry_id))

        async def on_progress(stage: Stage, done: int = 0, total: int = 0) -> None:
            await heartbeat()
            await _report(reporter.progress(job, stage, done, total))

        try:
            await on_progress("downloading")
            fetched = await source.fetch(job)
            result = await self._ingestion.ingest(
                fetched.data,
                job.file_name,
                scope=job.scope,
                uploaded_by=job.uploaded_by,
                uploader_name=job.uploader_name,
                progress=on_progress,
                web_url=fetched.web_url,
                content_type=fetched.content_type,
            )
        except (DocumentError, FetchError) as exc:
            log.warning("ingestion job %s (%s) refused: %s", job.job_id, job.file_name, exc, exc_info=exc)
            await _report(reporter.failed(job, exc))
        except Exception as exc:
            # Storage or embedding failed: nothing was published; the admin is told, the worker goes on.
            log.exception("ingestion job %s (%s) failed", job.job_id, job.file_name)
            await _report(reporter.failed(job, exc))
        else:
            await _report(reporter.finished(job, result))
        await self._acknowledge(queued.entry_id, job.chat_id, stop)

    async def _acknowledge(self, entry_id: str, chat_id: int, stop: asyncio.Event) -> None:
        """Acknowledges a finished job, waiting out a Redis outage (a finished job must not run twice).
        If the bot stops first, the job stays queued and its rerun finds the document already stored."""
        delay = 0.5
        while True:
            try:
                await self._queue.done(entry_id, chat_id)
                return
            except Exception as exc:
                log.warning(
                    "could not acknowledge upload job %s (%s); retrying in %.1f s", entry_id, exc, delay
                )
            if stop.is_set():
                return
            await _sleep_unless(stop, delay)
            delay = min(delay * 2, 5.0)


class _Heartbeat:
    """Touches the queue entry at most every `every_s`, however often progress is reported."""

    def __init__(self, touch: Callable[[], Awaitable[None]], every_s: float = 10.0) -> None:
        self._touch = touch
        self._every_s = every_s
        self._last = time.monotonic()

    async def __call__(self) -> None:
        if time.monotonic() - self._last >= self._every_s:
            self._last = time.monotonic()
            try:
                await self._touch()
            except Exception as exc:  # Redis down for a moment: the job goes on; the next beat retries
                log.warning("could not refresh the upload job's heartbeat: %s", exc)


async def _report(call: Awaitable[None]) -> None:
    # A message that can't be edited (deleted, chat gone) must not stop the job or the worker.
    try:
        await call
    except Exception:
        log.exception("could not report ingestion progress")


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
