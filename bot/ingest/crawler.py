"""Crawling one site politely: its pages from the sitemap, or else by following same-host links.

robots.txt is honoured (RFC 9309, read with urllib.robotparser): a 4xx means no rules, an unreachable
or failing one means "do not crawl". One request at a time, at least `delay_s` apart (or the site's
own Crawl-delay, if longer). Every request goes through the same guarded fetch as /add_url.
"""

from __future__ import annotations

import asyncio
import time
import xml.etree.ElementTree as ET
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Literal, Protocol
from urllib.parse import urljoin, urlsplit, urlunsplit
from urllib.robotparser import RobotFileParser

from bs4 import BeautifulSoup

from bot.ingest.web import FetchedPage, HTTPStatusError, WebFetchError

DEFAULT_SITE_PAGES = 50
MAX_SITE_PAGES = 500
ROBOTS_AGENT = "kb-bot"  # the product token robots.txt rules are matched against
_MAX_SITEMAPS = 20  # a sitemap index may list more; the first ones are plenty for 500 pages
# Links to these are not pages and never text the bot reads.
_SKIPPED_SUFFIXES = frozenset(
    {
        ".jpg", ".jpeg", ".png", ".gif", ".webp", ".svg", ".ico", ".bmp", ".tif", ".tiff", ".mp3", ".mp4",
        ".avi", ".mov", ".webm", ".zip", ".rar", ".7z", ".gz", ".tar", ".exe", ".dmg", ".iso", ".css", ".js",
        ".json", ".woff", ".woff2", ".ttf",
    }
)  # fmt: skip


class PageFetcher(Protocol):
    async def get(
        self, url: str, *, etag: str | None = None, last_modified: str | None = None
    ) -> FetchedPage: ...


@dataclass(frozen=True)
class CrawledPage:
    url: str  # as requested
    page: FetchedPage | None
    error: WebFetchError | None = None  # set when `page` is None


class SiteCrawler:
    def __init__(self, client: PageFetcher, *, delay_s: float) -> None:
        self._client = client
        self._delay_s = delay_s
        self._last_request = float("-inf")
        self.discovered_by: Literal["sitemap", "links"] = "links"
        self.disallowed = 0  # pages robots.txt kept us from

    async def pages(self, start_url: str, limit: int) -> AsyncIterator[CrawledPage]:
        """Up to `limit` pages of `start_url`'s host (each fetched once), in crawl order.

        Raises WebFetchError when robots.txt cannot be read (the site is then not crawled at all).
        """
        origin = _origin(start_url)
        robots = await self._robots(origin)
        self._delay_s = max(self._delay_s, float(robots.crawl_delay(ROBOTS_AGENT) or 0))
        planned = await self._from_sitemaps(origin, robots, limit)
        if planned:
            self.discovered_by = "sitemap"
            for url in planned:
                yield await self._fetch(url)
            return
        async for crawled in self._by_links(start_url, robots, limit):
            yield crawled

    async def _by_links(
        self, start_url: str, robots: RobotFileParser, limit: int
    ) -> AsyncIterator[CrawledPage]:
        host = urlsplit(start_url).hostname
        queue = deque([_normalise(start_url)])
        seen = set(queue)
        fetched = 0
        while queue and fetched < limit:
            url = queue.popleft()
            if not robots.can_fetch(ROBOTS_AGENT, url):
                self.disallowed += 1
                continue
            crawled = await self._fetch(url)
            fetched += 1
            yield crawled
            page = crawled.page
            if page is None or urlsplit(page.url).hostname != host or not _is_html(page):
                continue
            for link in _links(page):
                if urlsplit(link).hostname == host and link not in seen and len(seen) < limit * 20:
                    seen.add(link)
                    queue.append(link)

    async def _robots(self, origin: str) -> RobotFileParser:
        robots = RobotFileParser(f"{origin}/robots.txt")
        try:
            page = await self._request(f"{origin}/robots.txt")
        except HTTPStatusError as exc:
            if 400 <= exc.status < 500:  # RFC 9309 §2.3.1.3: no robots.txt, no rules
                robots.parse([])
                return robots
            raise WebFetchError(f"robots.txt answered HTTP {exc.status}, so the site is not crawled") from exc
        robots.parse(page.data.decode("utf-8", errors="replace").splitlines())
        return robots

    async def _from_sitemaps(self, origin: str, robots: RobotFileParser, limit: int) -> list[str]:
        host = urlsplit(origin).hostname
        pending = deque(
            u for u in (robots.site_maps() or [f"{origin}/sitemap.xml"]) if urlsplit(u).hostname == host
        )
        pages: list[str] = []
        read = 0
        while pending and len(pages) < limit and read < _MAX_SITEMAPS:
            sitemap_url = pending.popleft()
            read += 1
            try:
                sitemap = await self._request(sitemap_url)
                # expat (Python ≥ 3.11's) refuses entity-expansion bombs; no DTDs are fetched.
                root = ET.fromstring(sitemap.data)
            except (WebFetchError, ET.ParseError):
                continue
            locations = [
                _normalise(urljoin(sitemap.url, (e.text or "").strip()))
                for e in root.iter()
                if e.tag.endswith("loc") and (e.text or "").strip()
            ]
            same_host = [u for u in locations if urlsplit(u).hostname == host]
            if root.tag.endswith("sitemapindex"):
                pending.extend(same_host)
                continue
            for url in same_host:
                if url in pages:
                    continue
                if not robots.can_fetch(ROBOTS_AGENT, url):
                    self.disallowed += 1
                    continue
                pages.append(url)
        return pages[:limit]

    async def _fetch(self, url: str) -> CrawledPage:
        try:
            page = await self._request(url)
        except WebFetchError as exc:
            return CrawledPage(url, None, exc)
        if urlsplit(page.url).hostname != urlsplit(url).hostname:
            return CrawledPage(url, None, WebFetchError(f"it redirects to another site ({page.url})"))
        return CrawledPage(url, page)

    async def _request(self, url: str) -> FetchedPage:
        # One request at a time, at least the delay apart, whatever it is for.
        wait = self._last_request + self._delay_s - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        try:
            return await self._client.get(url)
        finally:
            self._last_request = time.monotonic()


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "", "", ""))


def _normalise(url: str) -> str:
    """Without the #fragment, and "/" for an empty path: one page, one address."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", parts.query, ""))


def _is_html(page: FetchedPage) -> bool:
    content_type = (page.content_type or "text/html").split(";")[0].strip().lower()
    return content_type in ("text/html", "application/xhtml+xml")


def _links(page: FetchedPage) -> list[str]:
    soup = BeautifulSoup(page.data, "html.parser")
    found: list[str] = []
    for anchor in soup.find_all("a", href=True):
        if "nofollow" in (anchor.get("rel") or []):
            continue
        url = _normalise(urljoin(page.url, str(anchor["href"])))
        if urlsplit(url).scheme not in ("http", "https"):
            continue
        if PurePosixPath(urlsplit(url).path).suffix.lower() in _SKIPPED_SUFFIXES:
            continue
        found.append(url)
    return found
