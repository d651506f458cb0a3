"""Fetching a web page for the knowledge base: size- and time-bounded, redirects followed by hand,
and private networks refused unless allowed (group admins are strangers; the bot's own Redis,
Qdrant and cloud metadata endpoints must not be readable through it)."""

from __future__ import annotations

import errno
import ipaddress
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

MAX_REDIRECTS = 5
_USER_AGENT = "Mozilla/5.0 (compatible; kb-bot/1.0; +https://github.com/)"


class WebFetchError(Exception):
    """The page could not be fetched; str() is a short reason for the admin."""


class HTTPStatusError(WebFetchError):
    """The server answered with an error status (4xx, 5xx)."""

    def __init__(self, status: int) -> None:
        super().__init__(f"the server answered HTTP {status}")
        self.status = status


class AddressRefusedError(WebFetchError):
    """The address may not be fetched: not http(s) (`host` None), or a private or reserved `host`."""

    def __init__(self, message: str, host: str | None = None) -> None:
        super().__init__(message)
        self.host = host


class PageUnreachableError(WebFetchError):
    """No answer from the server: DNS, refused connection, timeout (str() holds the detail)."""


class TooManyRedirectsError(WebFetchError):
    def __init__(self) -> None:
        super().__init__("too many redirects")


class PageTooLargeError(WebFetchError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"the page is larger than {limit // (1024 * 1024)} MB")
        self.limit = limit


@dataclass(frozen=True)
class FetchedPage:
    url: str  # after redirects
    data: bytes
    content_type: str | None
    # Validators for the next conditional request (RFC 9110 §8.8), when the server sent them.
    etag: str | None = None
    last_modified: str | None = None
    not_modified: bool = False  # a 304 to a conditional request: `data` is empty, the copy is current


def _is_public(address: str) -> bool:
    return ipaddress.ip_address(address.split("%", 1)[0]).is_global


class _PublicOnlyResolver(AbstractResolver):
    """Resolves like aiohttp does, then keeps only public addresses (checked at connect time, so a
    DNS answer that changes between a check and the connection cannot slip a private address in)."""

    def __init__(self) -> None:
        self._inner = DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = [r for r in await self._inner.resolve(host, port, family) if _is_public(r["host"])]
        if not results:
            # aiohttp shows only strerror, so the reason goes there.
            raise OSError(errno.EACCES, f"{host} resolves only to private or reserved addresses")
        return results

    async def close(self) -> None:
        await self._inner.close()


def check_url(url: str, *, allow_private: bool) -> str:
    """The URL, if it is an http(s) address the bot may fetch; raises WebFetchError otherwise."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise AddressRefusedError("only http:// and https:// addresses can be added")
    if not allow_private:
        try:
            literal = ipaddress.ip_address(parts.hostname)
        except ValueError:
            literal = None
        # aiohttp connects to IP literals without asking the resolver, so they are checked here.
        if literal is not None and not literal.is_global:
            raise AddressRefusedError(f"{parts.hostname} is a private or reserved address", parts.hostname)
        # Host names are checked by the resolver, at connection time.
    return url.strip()


async def fetch_page(
    url: str,
    *,
    max_bytes: int,
    timeout_s: float = 30.0,
    allow_private: bool = False,
    etag: str | None = None,
    last_modified: str | None = None,
) -> FetchedPage:
    """The page at `url`; with `etag`/`last_modified` a conditional GET, which may come back as a
    FetchedPage with `not_modified` set. Raises WebFetchError (HTTPStatusError for 4xx/5xx)."""
    connector = aiohttp.TCPConnector(resolver=None if allow_private else _PublicOnlyResolver())
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    headers = {"User-Agent": _USER_AGENT, "Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    async with aiohttp.ClientSession(connector=connector, timeout=timeout, headers=headers) as session:
        current = check_url(url, allow_private=allow_private)
        for _ in range(MAX_REDIRECTS + 1):
            try:
                async with session.get(current, allow_redirects=False) as response:
                    if response.status in (301, 302, 303, 307, 308) and "Location" in response.headers:
                        # Each hop is checked like the first address.
                        current = check_url(
                            urljoin(current, response.headers["Location"]), allow_private=allow_private
                        )
                        continue
                    if response.status >= 400:
                        raise HTTPStatusError(response.status)
                    etag = response.headers.get("ETag")
                    last_modified = response.headers.get("Last-Modified")
                    if response.status == 304:
                        return FetchedPage(
                            str(response.url), b"", None, etag, last_modified, not_modified=True
                        )
                    data = await _read_bounded(response, max_bytes)
                    content_type = response.headers.get("Content-Type")
                    return FetchedPage(str(response.url), data, content_type, etag, last_modified)
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                raise PageUnreachableError(f"could not load the page: {_reason(exc)}") from exc
        raise TooManyRedirectsError()


async def _read_bounded(response: aiohttp.ClientResponse, max_bytes: int) -> bytes:
    declared = response.content_length
    if declared is not None and declared > max_bytes:
        raise PageTooLargeError(max_bytes)
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > max_bytes:  # a missing or lying Content-Length
            raise PageTooLargeError(max_bytes)
        chunks.append(chunk)
    return b"".join(chunks)


def _reason(exc: Any) -> str:
    return str(exc) or type(exc).__name__


@dataclass(frozen=True)
class WebClient:
    """`fetch_page` with the bot's bounds fixed once: what crawling and re-checking use."""

    max_bytes: int
    allow_private: bool = False
    timeout_s: float = 30.0

    async def get(
        self, url: str, *, etag: str | None = None, last_modified: str | None = None
    ) -> FetchedPage:
        return await fetch_page(
            url,
            max_bytes=self.max_bytes,
            timeout_s=self.timeout_s,
            allow_private=self.allow_private,
            etag=etag,
            last_modified=last_modified,
        )
