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
from bot.telemetry import metrics
from bot.telemetry.logs import log_context

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
    async def release(self, entry_id: str) -> None: ...
    async def backlog(self) -> tuple[int, int]: ...
    async def forget_idle_consumers(self) -> None: ...
    async def done(self, entry_id: str) -> None: ...


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


class IngestionJobs:
    def __init__(self, queue: Queue, ingestion: IngestionService, *, max_deliveries: int = 3) -> None:
        self._queue = queue
        self._ingestion = ingestion
        self._max_deliveries = max_deliveries

    async def submit(self, job: IngestJob) -> None:
        await self._queue.enqueue(job.to_payload())

    async def backlog(self) -> tuple[int, int]:
        """(jobs queued or running, of which running), across all workers."""
        return await self._queue.backlog()

    async def forget_idle_consumers(self) -> None:
        """Tidies the consumer group: workers of ended processes that own no job are dropped."""
        await self._queue.forget_idle_consumers()

    async def run(self, source: JobSource, reporter: JobReporter, stop: asyncio.Event) -> None:
        """The worker loop: one job at a time (embedding is CPU-bound) until `stop` is set.

        Cancelled in the middle of a job (shutdown), it hands the job back to the queue first.
        """
        while not stop.is_set():
            try:
                queued = await self._queue.next(block_s=1.0)
            except Exception as exc:  # Redis hiccup: wait and retry rather than kill the worker
                if stop.is_set():
                    break  # connections closing under a stopping worker are no failure
                log.warning("ingestion queue unavailable, retrying in 5 s: %s", exc)
                await _sleep_unless(stop, 5.0)
                continue
            if queued is None:
                continue
            try:
                await self._process(queued, source, reporter)
            except asyncio.CancelledError:
                await asyncio.shield(self._hand_back(queued))
                raise

    async def _hand_back(self, queued: QueuedJobLike) -> None:
        try:
            await self._queue.release(queued.entry_id)
        except Exception as exc:  # Redis gone too: the job stays pending and goes stale instead
            log.warning("could not hand back job %s: %s", queued.entry_id, exc)
            return
        metrics.INGEST_JOBS.labels(state="released").inc()
        log.info("handed job %s back to the queue", queued.entry_id)

    async def _process(self, queued: QueuedJobLike, source: JobSource, reporter: JobReporter) -> None:
        job = IngestJob.from_payload(queued.payload)
        with log_context(job_id=job.job_id, chat_id=job.chat_id):
            log.info("ingesting %s (delivery %d)", job.file_name, queued.deliveries)
            state = await self._run_job(job, queued, source, reporter)
            log.info("ingestion of %s: %s", job.file_name, state)
        metrics.INGEST_JOBS.labels(state=state).inc()

    async def _run_job(
        self, job: IngestJob, queued: QueuedJobLike, source: JobSource, reporter: JobReporter
    ) -> str:
        """Runs one job to its end and acknowledges it; returns its state: done, failed or interrupted."""
        if queued.deliveries > self._max_deliveries:
            log.error(
                "job %s (%s) was interrupted %d times; giving up",
                job.job_id,
                job.file_name,
                queued.deliveries,
            )
            await _report(reporter.failed(job, None))
            await self._queue.done(queued.entry_id)
            return "interrupted"
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
            await _report(reporter.failed(job, exc))
            state = "failed"
        except Exception as exc:
            # Storage or embedding failed: nothing was published; the admin is told, the worker goes on.
            log.exception("ingestion job %s (%s) failed", job.job_id, job.file_name)
            await _report(reporter.failed(job, exc))
            state = "failed"
        else:
            await _report(reporter.finished(job, result))
            state = "done"
        await self._queue.done(queued.entry_id)
        return state


class _Heartbeat:
    """Touches the queue entry at most every `every_s`, however often progress is reported."""

    def __init__(self, touch: Callable[[], Awaitable[None]], every_s: float = 10.0) -> None:
        self._touch = touch
        self._every_s = every_s
        self._last = time.monotonic()

    async def __call__(self) -> None:
        if time.monotonic() - self._last >= self._every_s:
            self._last = time.monotonic()
            await self._touch()


async def _report(call: Awaitable[None]) -> None:
    # A message that can't be edited (deleted, chat gone) must not stop the job or the worker.
    try:
        await call
    except Exception:
        log.exception("could not report ingestion progress")


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
