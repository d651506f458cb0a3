"""Web sources kept current: pages added by URL (one, or a whole site) are remembered and re-checked.

A re-check sends the validators the server gave last time (ETag → If-None-Match, Last-Modified →
If-Modified-Since, RFC 9110 §13.1); a 304, or the same bytes, costs no parsing. Changed bytes go
through the same `IngestionService.ingest` as uploads: identical text is recognised by its hash, and a
changed page replaces the old version, re-embedding only the chunks whose text changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from bot.domain import WebSource
from bot.ingest.crawler import PageFetcher, SiteCrawler
from bot.ingest.parsing import DocumentError
from bot.ingest.pipeline import IngestionService, IngestResult, ProgressCallback
from bot.ingest.web import FetchedPage, WebFetchError

log = logging.getLogger(__name__)

CheckStatus = Literal["unchanged", "changed", "failed", "removed"]


class RefreshLeaseLike(Protocol):
    async def renew(self) -> None: ...


class SourceStore(Protocol):
    async def save(self, source: WebSource) -> None: ...
    async def remove(self, source: WebSource) -> None: ...
    async def sources(self, scopes: Sequence[str] | None = None) -> list[WebSource]: ...
    def exclusive(self, ttl_s: float) -> contextlib.AbstractAsyncContextManager[RefreshLeaseLike | None]: ...


@dataclass
class RefreshReport:
    """One re-check pass: (url, status, note) per source checked; `busy` when another replica ran it."""

    rows: list[tuple[str, CheckStatus, str]] = field(default_factory=list)
    busy: bool = False

    def count(self, status: CheckStatus) -> int:
        return sum(row[1] == status for row in self.rows)


@dataclass
class SiteReport:
    """What /add_site did: pages indexed (new or changed), already current, failed; and how pages
    were found."""

    url: str
    discovered_by: str = "links"
    indexed: int = 0
    unchanged: int = 0
    # (url, why): a WebFetchError or a DocumentError, put in the admin's words by the handler
    failed: list[tuple[str, Exception]] = field(default_factory=list)
    disallowed: int = 0  # pages robots.txt kept out


class WebSources:
    def __init__(
        self,
        ingestion: IngestionService,
        store: SourceStore,
        client: PageFetcher,
        *,
        refresh_every_s: float,
        delay_s: float,
        lease_ttl_s: float = 900.0,
    ) -> None:
        self._ingestion = ingestion
        self._store = store
        self._client = client
        self.refresh_every_s = refresh_every_s  # 0: no periodic re-checks
        self._delay_s = delay_s
        self._lease_ttl_s = lease_ttl_s

    async def add_page(
        self,
        url: str,
        scope: str,
        *,
        uploaded_by: int | None,
        uploader_name: str | None = None,
        progress: ProgressCallback | None = None,
    ) -> IngestResult:
        """Fetches and indexes one page, and remembers it for re-checks.

        Raises WebFetchError (could not load) or DocumentError (nothing readable).
        """
        page = await self._client.get(url)
        return await self._ingest(url, scope, page, uploaded_by, uploader_name, progress)

    async def add_site(
        self,
        url: str,
        scope: str,
        limit: int,
        *,
        uploaded_by: int | None,
        uploader_name: str | None = None,
        progress: ProgressCallback | None = None,
    ) -> SiteReport:
        """Crawls `url`'s site (sitemap, else links) and indexes up to `limit` pages, one at a time.

        A page that fails is listed in the report and the crawl goes on. Raises WebFetchError only
        when the site cannot be crawled at all (robots.txt unavailable).
        """
        report = SiteReport(url)
        crawler = SiteCrawler(self._client, delay_s=self._delay_s)
        done = 0
        async for crawled in crawler.pages(url, limit):
            done += 1
            if progress is not None:
                await progress("crawling", done, limit)
            if crawled.page is None:
                assert crawled.error is not None  # a page is either fetched or has its error
                report.failed.append((crawled.url, crawled.error))
                continue
            try:
                result = await self._ingest(
                    crawled.url, scope, crawled.page, uploaded_by, uploader_name, None
                )
            except DocumentError as exc:
                report.failed.append((crawled.url, exc))
                continue
            if result.already_indexed:
                report.unchanged += 1
            else:
                report.indexed += 1
        report.discovered_by = crawler.discovered_by
        report.disallowed = crawler.disallowed
        return report

    async def refresh(self, scopes: Sequence[str] | None = None, *, only_due: bool = True) -> RefreshReport:
        """Re-checks the sources of `scopes` (all when None): those not checked for `refresh_every_s`,
        or every one when `only_due` is False. At most one replica runs a pass at a time."""
        report = RefreshReport()
        async with self._store.exclusive(self._lease_ttl_s) as lease:
            if lease is None:
                report.busy = True
                return report
            now = time.time()
            for source in await self._store.sources(scopes):
                if only_due and now - source.checked_at < self.refresh_every_s:
                    continue
                status, note = await self._check(source)
                report.rows.append((source.url, status, note))
                await lease.renew()
                await asyncio.sleep(self._delay_s)  # polite to sites that hold many of our pages
        return report

    async def run_periodically(self, stop: asyncio.Event, poll_s: float = 300.0) -> None:
        """The background re-checker: every `poll_s`, re-check what is due; never dies of an error."""
        while not stop.is_set():
            try:
                report = await self.refresh()
                if report.rows:
                    log.info(
                        "web re-check: %d changed, %d unchanged, %d failed, %d removed",
                        report.count("changed"),
                        report.count("unchanged"),
                        report.count("failed"),
                        report.count("removed"),
                    )
            except Exception:  # Redis, Qdrant or a bug: log it and try again next time
                log.exception("web re-check pass failed; retrying in %.0f s", poll_s)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(poll_s):
                    await stop.wait()

    async def checked_at(self, scopes: Sequence[str]) -> dict[str, float]:
        """{doc_id: Unix time of the last check} for the web documents of `scopes` (for /docs)."""
        return {s.doc_id: s.checked_at for s in await self._store.sources(scopes)}

    async def _check(self, source: WebSource) -> tuple[CheckStatus, str]:
        if await self._ingestion.document(source.doc_id, [source.scope]) is None:
            await self._store.remove(source)  # an admin deleted it: stop watching
            return "removed", ""
        try:
            page = await self._client.get(source.url, etag=source.etag, last_modified=source.last_modified)
        except WebFetchError as exc:
            # The indexed copy stays; the next pass tries again.
            await self._store.save(dataclasses.replace(source, checked_at=time.time(), last_error=str(exc)))
            return "failed", str(exc)
        if page.not_modified or _digest(page.data) == source.content_hash:
            current = dataclasses.replace(
                source,
                checked_at=time.time(),
                last_error=None,
                etag=page.etag or source.etag,
                last_modified=page.last_modified or source.last_modified,
            )
            await self._store.save(current)
            return "unchanged", "304" if page.not_modified else "same bytes"
        try:
            result = await self._ingest(
                source.url, source.scope, page, source.uploaded_by, source.uploader_name, None
            )
        except DocumentError as exc:
            await self._store.save(dataclasses.replace(source, checked_at=time.time(), last_error=str(exc)))
            return "failed", str(exc)
        if result.already_indexed:
            return "unchanged", "same text"
        if result.document.doc_id != source.doc_id:
            # Usually gone already (replaced by name); not when the page now redirects elsewhere.
            await self._ingestion.delete(source.doc_id, [source.scope])
        return "changed", result.document.doc_id

    async def _ingest(
        self,
        url: str,
        scope: str,
        page: FetchedPage,
        uploaded_by: int | None,
        uploader_name: str | None,
        progress: ProgressCallback | None,
    ) -> IngestResult:
        result = await self._ingestion.ingest(
            page.data,
            url,
            scope=scope,
            uploaded_by=uploaded_by,
            uploader_name=uploader_name,
            progress=progress,
            web_url=page.url,
            content_type=page.content_type,
        )
        source = WebSource(
            url=url,
            scope=scope,
            doc_id=result.document.doc_id,
            checked_at=time.time(),
            content_hash=_digest(page.data),
            etag=page.etag,
            last_modified=page.last_modified,
            uploaded_by=uploaded_by,
            uploader_name=uploader_name,
        )
        try:
            await self._store.save(source)
        except Exception as exc:  # Redis down: the page is stored and searchable, only its re-checks wait
            log.warning("could not record %s for re-checks (%s); adding it again records it", url, exc)
        return result


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
