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
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from bot.ingest.freshness import SiteReport, WebSources
from bot.ingest.parsing import DocumentError
from bot.ingest.pipeline import IngestionService, IngestResult
from bot.ingest.web import WebFetchError
from bot.telemetry import metrics
from bot.telemetry.logs import log_context

log = logging.getLogger(__name__)

Stage = Literal["queued", "downloading", "parsing", "embedding", "storing", "crawling", "ocr"]


@dataclass(frozen=True)
class JobFile:
    """One Telegram document of an album job."""

    file_id: str
    file_name: str
    size: int | None = None


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
    # An album (issue 11): several documents indexed one after another under one progress message.
    files: tuple[JobFile, ...] = ()
    # /add_site (issue 11): crawl `url`'s site, at most this many pages.
    site_pages: int | None = None

    def to_payload(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> IngestJob:
        names = {f.name for f in dataclasses.fields(cls)}
        values = {key: value for key, value in payload.items() if key in names}
        values["files"] = tuple(JobFile(**item) for item in values.get("files") or ())
        return cls(**values)

    def album_part(self, file: JobFile) -> IngestJob:
        """One file of an album job: same chat, progress message and job id."""
        return dataclasses.replace(
            self, file_id=file.file_id, file_name=file.file_name, size=file.size, files=()
        )


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

    async def album_finished(self, job: IngestJob, outcomes: Sequence[AlbumOutcome]) -> None:
        """An album's summary: one outcome per file, in the album's order."""

    async def site_finished(self, job: IngestJob, report: SiteReport) -> None:
        """A crawled site's summary."""


@dataclass(frozen=True)
class AlbumOutcome:
    part: IngestJob  # the album job narrowed to this file
    result: IngestResult | None = None
    error: BaseException | None = None  # set when `result` is None


class FetchError(Exception):
    """The file or page could not be downloaded; the user should send it again."""


class IngestionJobs:
    def __init__(
        self,
        queue: Queue,
        ingestion: IngestionService,
        *,
        max_deliveries: int = 3,
        web: WebSources | None = None,
    ) -> None:
        self._queue = queue
        self._ingestion = ingestion
        self._max_deliveries = max_deliveries
        self._web = web  # pages added by URL are remembered there and re-checked

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

        if job.files:
            await self._process_album(job, source, reporter, heartbeat)
            await self._queue.done(queued.entry_id)
            return "done"
        if job.site_pages is not None:
            await self._process_site(job, reporter, on_progress)
            await self._queue.done(queued.entry_id)
            return "done"
        try:
            result = await self._ingest_one(job, source, on_progress)
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

    async def _ingest_one(
        self, job: IngestJob, source: JobSource, on_progress: Callable[..., Awaitable[None]]
    ) -> IngestResult:
        await on_progress("downloading")
        if job.url is not None and self._web is not None:
            try:
                return await self._web.add_page(
                    job.url,
                    job.scope,
                    uploaded_by=job.uploaded_by,
                    uploader_name=job.uploader_name,
                    progress=on_progress,
                )
            except WebFetchError as exc:
                raise FetchError(str(exc)) from exc
        fetched = await source.fetch(job)
        return await self._ingestion.ingest(
            fetched.data,
            job.file_name,
            scope=job.scope,
            uploaded_by=job.uploaded_by,
            uploader_name=job.uploader_name,
            progress=on_progress,
            web_url=fetched.web_url,
            content_type=fetched.content_type,
        )

    async def _process_site(
        self, job: IngestJob, reporter: JobReporter, on_progress: Callable[..., Awaitable[None]]
    ) -> None:
        if self._web is None or job.url is None or job.site_pages is None:
            await _report(reporter.failed(job, FetchError("crawling is not set up in this process")))
            return
        try:
            report = await self._web.add_site(
                job.url,
                job.scope,
                job.site_pages,
                uploaded_by=job.uploaded_by,
                uploader_name=job.uploader_name,
                progress=on_progress,
            )
        except WebFetchError as exc:
            await _report(reporter.failed(job, FetchError(str(exc))))
        except Exception as exc:
            log.exception("crawl job %s (%s) failed", job.job_id, job.url)
            await _report(reporter.failed(job, exc))
        else:
            await _report(reporter.site_finished(job, report))

    async def _process_album(
        self, job: IngestJob, source: JobSource, reporter: JobReporter, heartbeat: _Heartbeat
    ) -> None:
        """Each file in turn under the album's one progress message; one file failing spares the rest."""
        outcomes: list[AlbumOutcome] = []
        for file in job.files:
            part = job.album_part(file)

            async def on_progress(
                stage: Stage, done: int = 0, total: int = 0, part: IngestJob = part
            ) -> None:
                await heartbeat()
                await _report(reporter.progress(part, stage, done, total))

            try:
                outcomes.append(AlbumOutcome(part, result=await self._ingest_one(part, source, on_progress)))
            except (DocumentError, FetchError) as exc:
                outcomes.append(AlbumOutcome(part, error=exc))
            except Exception as exc:
                log.exception("ingestion job %s (%s) failed", job.job_id, part.file_name)
                outcomes.append(AlbumOutcome(part, error=exc))
        await _report(reporter.album_finished(job, outcomes))


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
