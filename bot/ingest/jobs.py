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
    async def hand_back(self, entry_id: str) -> None: ...
    async def hand_back_held(self) -> None: ...
    async def backlog(self) -> tuple[int, int]: ...
    async def forget_idle_consumers(self) -> None: ...
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
        web: WebSources | None = None,
        max_waiting_per_chat: int = 20,
    ) -> None:
        self._queue = queue
        self._ingestion = ingestion
        self._max_deliveries = max_deliveries
        self._web = web  # pages added by URL are remembered there and re-checked
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

    async def backlog(self) -> tuple[int, int]:
        """(jobs queued or running, of which running), across all workers."""
        return await self._queue.backlog()

    async def forget_idle_consumers(self) -> None:
        """Tidies the consumer group: workers of ended processes that own no job are dropped."""
        await self._queue.forget_idle_consumers()

    async def run(self, source: JobSource, reporter: JobReporter, stop: asyncio.Event) -> None:
        """The worker loop: one job at a time (embedding is CPU-bound) until `stop` is set.

        Cancelled in the middle of a job (shutdown), it hands the job back to the queue first, and the
        jobs it read ahead. Nothing else ends it: a Redis outage or a bug in one job is logged (once per
        run of failures) and the loop carries on; an unacknowledged job stays queued and resumes.
        """
        failing = False
        while not stop.is_set():
            queued: QueuedJobLike | None = None
            try:
                queued = await self._queue.next(block_s=1.0)
                if queued is not None:
                    await self._process(queued, source, reporter, stop)
            except asyncio.CancelledError:
                await asyncio.shield(self._hand_back(queued))
                raise
            except Exception:
                if stop.is_set():
                    break  # connections closing under a stopping worker are no failure
                if not failing:
                    log.exception("upload worker: queue unavailable; retrying every 5 s")
                failing = True
                await _sleep_unless(stop, 5.0)
            else:
                if failing:
                    log.warning("upload worker: queue reachable again")
                failing = False

    async def _hand_back(self, queued: QueuedJobLike | None) -> None:
        try:
            if queued is not None:
                await self._queue.hand_back(queued.entry_id)
            await self._queue.hand_back_held()
        except Exception as exc:  # Redis gone too: the jobs stay pending and go stale instead
            log.warning("could not hand jobs back: %s", exc)
            return
        if queued is not None:
            metrics.INGEST_JOBS.labels(state="released").inc()
            log.info("handed job %s back to the queue", queued.entry_id)

    async def _process(
        self, queued: QueuedJobLike, source: JobSource, reporter: JobReporter, stop: asyncio.Event
    ) -> None:
        job = IngestJob.from_payload(queued.payload)
        with log_context(job_id=job.job_id, chat_id=job.chat_id):
            log.info("ingesting %s (delivery %d)", job.file_name, queued.deliveries)
            state = await self._run_job(job, queued, source, reporter, stop)
            log.info("ingestion of %s: %s", job.file_name, state)
        metrics.INGEST_JOBS.labels(state=state).inc()

    async def _run_job(
        self,
        job: IngestJob,
        queued: QueuedJobLike,
        source: JobSource,
        reporter: JobReporter,
        stop: asyncio.Event,
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
            await self._acknowledge(queued.entry_id, job.chat_id, stop)
            return "interrupted"
        if queued.deliveries > 1:
            log.warning("resuming job %s (%s) after an interruption", job.job_id, job.file_name)
        heartbeat = _Heartbeat(lambda: self._queue.touch(queued.entry_id))

        async def on_progress(stage: Stage, done: int = 0, total: int = 0) -> None:
            await heartbeat()
            await _report(reporter.progress(job, stage, done, total))

        if job.files:
            await self._process_album(job, source, reporter, heartbeat)
            await self._acknowledge(queued.entry_id, job.chat_id, stop)
            return "done"
        if job.site_pages is not None:
            await self._process_site(job, reporter, on_progress)
            await self._acknowledge(queued.entry_id, job.chat_id, stop)
            return "done"
        try:
            result = await self._ingest_one(job, source, on_progress)
        except (DocumentError, FetchError) as exc:
            log.warning("ingestion job %s (%s) refused: %s", job.job_id, job.file_name, exc, exc_info=exc)
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
        await self._acknowledge(queued.entry_id, job.chat_id, stop)
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
        async with asyncio.timeout(seconds):
            await stop.wait()
