"""Fetching pages over real HTTP from a local server: redirects, size limits, private addresses."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from bot.ingest.web import PageTooLargeError, WebFetchError, check_url, fetch_page
from tests.support.web_site import serve

PAGE = "<html><head><title>Возвраты</title></head><body><p>Срок возврата — 14 дней.</p></body></html>"


@pytest.fixture
async def site() -> AsyncIterator[str]:
    async def page(_: web.Request) -> web.Response:
        return web.Response(text=PAGE, content_type="text/html")

    async def moved(_: web.Request) -> web.Response:
        raise web.HTTPFound("/page")

    async def loop(_: web.Request) -> web.Response:
        raise web.HTTPFound("/loop")

    async def huge(_: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()  # no Content-Length: the limit must hold while reading
        await response.prepare(_)
        for _chunk in range(40):
            await response.write(b"x" * 64 * 1024)
        return response

    async def missing(_: web.Request) -> web.Response:
        raise web.HTTPNotFound()

    app = web.Application()
    app.add_routes(
        [web.get("/page", page), web.get("/moved", moved), web.get("/loop", loop), web.get("/huge", huge)]
    )
    app.router.add_get("/missing", missing)
    async with serve(app) as url:
        yield url


async def test_a_page_is_fetched_after_redirects(site: str) -> None:
    page = await fetch_page(f"{site}/moved", max_bytes=1 << 20, allow_private=True)
    assert page.url == f"{site}/page"
    assert page.data.decode() == PAGE
    assert page.content_type is not None
    assert page.content_type.startswith("text/html")


async def test_limits_and_failures_are_clear(site: str) -> None:
    with pytest.raises(PageTooLargeError, match="larger than 1 MB"):
        await fetch_page(f"{site}/huge", max_bytes=1 << 20, allow_private=True)
    with pytest.raises(WebFetchError, match="too many redirects"):
        await fetch_page(f"{site}/loop", max_bytes=1 << 20, allow_private=True)
    with pytest.raises(WebFetchError, match="HTTP 404"):
        await fetch_page(f"{site}/missing", max_bytes=1 << 20, allow_private=True)


async def test_private_addresses_are_refused_by_default(site: str) -> None:
    # The bot's own Redis, Qdrant or a cloud metadata service must not be readable through /add_url.
    with pytest.raises(WebFetchError, match="private or reserved"):
        await fetch_page(f"{site}/page", max_bytes=1 << 20)
    # A host name is checked where the connection is made, whatever DNS said a moment earlier.
    port = site.rsplit(":", 1)[1]
    with pytest.raises(WebFetchError, match="resolves only to private"):
        await fetch_page(f"http://localhost:{port}/page", max_bytes=1 << 20)
    for url in (
        "http://169.254.169.254/latest/meta-data",
        "http://10.0.0.5:6333/collections",
        "http://[::1]/",
    ):
        with pytest.raises(WebFetchError, match="private or reserved"):
            check_url(url, allow_private=False)
    with pytest.raises(WebFetchError, match="only http"):
        check_url("file:///etc/passwd", allow_private=True)
    assert check_url("https://example.com/faq", allow_private=False) == "https://example.com/faq"
