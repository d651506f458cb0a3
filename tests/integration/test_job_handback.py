"""A worker stopped in the middle of an upload hands the job back: the next worker takes it at once,
not after INGEST_STALE_AFTER_S, and the interruption is counted as a delivery."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

from redis.asyncio import Redis

from bot.app import Services
from bot.domain import GLOBAL_SCOPE
from bot.ingest.freshness import SiteReport
from bot.ingest.jobs import AlbumOutcome, FetchedFile, IngestJob, Stage
from bot.ingest.pipeline import IngestResult
from bot.storage.job_queue import JobQueue


class _EndlessDownload:
    """A download that never finishes, like a big file on a slow line when SIGTERM comes."""

    def __init__(self) -> None:
        self.started = asyncio.Event()

    async def fetch(self, job: IngestJob) -> FetchedFile:
        self.started.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


class _Silent:
    async def progress(self, job: IngestJob, stage: Stage, done: int = 0, total: int = 0) -> None:
        return None

    async def finished(self, job: IngestJob, result: IngestResult) -> None:
        raise AssertionError("the job cannot finish")

    async def failed(self, job: IngestJob, error: BaseException | None) -> None:
        raise AssertionError(f"a stopped job is not a failed one: {error}")

    async def album_finished(self, job: IngestJob, outcomes: Sequence[AlbumOutcome]) -> None:
        raise AssertionError("no album here")

    async def site_finished(self, job: IngestJob, report: SiteReport) -> None:
        raise AssertionError("no site here")


async def test_a_stopping_worker_hands_its_job_to_the_next_worker_at_once(
    services: Services, redis: Redis
) -> None:
    job = IngestJob(
        file_name="big.pdf",
        scope=GLOBAL_SCOPE,
        uploaded_by=1,
        chat_id=1,
        progress_message_id=7,
        file_id="f-big",
    )
    await services.jobs.submit(job)
    download = _EndlessDownload()
    worker = asyncio.create_task(services.jobs.run(download, _Silent(), asyncio.Event()))
    await asyncio.wait_for(download.started.wait(), 10)
    worker.cancel()  # what shutdown does to the worker task
    with contextlib.suppress(asyncio.CancelledError):
        await worker

    assert services.settings.ingest_stale_after_s == 300
    taken = await JobQueue(redis, consumer="next-worker", stale_after_s=300).next(block_s=0.1)
    assert taken is not None
    assert taken.payload["job_id"] == job.job_id
    assert taken.deliveries == 2
    assert await services.jobs.backlog() == (1, 1)  # still one job, now running on the next worker
