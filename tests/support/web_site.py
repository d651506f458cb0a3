"""A real HTTP site on 127.0.0.1 for tests that fetch web pages."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from aiohttp import web


@contextlib.asynccontextmanager
async def serve(app: web.Application) -> AsyncIterator[str]:
    """Serves `app` on a free port; yields its base URL."""
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # started above
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


class ChangingSite:
    """A small site whose pages the test edits, answering conditional requests like a real server:
    `ETag` and `If-None-Match` → 304 for pages given an etag; robots.txt and sitemap.xml if set.
    Records every request path with its conditional headers."""

    def __init__(self) -> None:
        self.pages: dict[str, str] = {}  # path → HTML
        self.etags: dict[str, str] = {}  # path → ETag, for pages that send one
        self.robots: str | None = None
        self.sitemap: str | None = None
        self.requests: list[tuple[str, str | None]] = []  # (path, If-None-Match)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/{path:.*}", self._serve)
        return app

    def requested(self, path: str) -> int:
        return sum(seen == path for seen, _ in self.requests)

    async def _serve(self, request: web.Request) -> web.Response:
        path = request.path
        self.requests.append((path, request.headers.get("If-None-Match")))
        if path == "/robots.txt" and self.robots is not None:
            return web.Response(text=self.robots, content_type="text/plain")
        if path == "/sitemap.xml" and self.sitemap is not None:
            return web.Response(text=self.sitemap, content_type="application/xml")
        if path not in self.pages:
            return web.Response(status=404, text="not found")
        etag = self.etags.get(path)
        if etag is not None and request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        headers = {"ETag": etag} if etag is not None else {}
        return web.Response(text=self.pages[path], content_type="text/html", headers=headers)


def article(title: str, *paragraphs: str, links: tuple[str, ...] = ()) -> str:
    """A page with a menu, an article and a footer, like a real site's."""
    anchors = " | ".join(f'<a href="{href}">{href}</a>' for href in links)
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (
        f"<html><head><title>{title}</title></head><body><nav>{anchors}</nav>"
        f"<article><h1>{title}</h1>{body}</article><footer>© Компания</footer></body></html>"
    )
