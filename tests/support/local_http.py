"""The lifecycle shared by the test servers: an aiohttp app on a free 127.0.0.1 port."""

from __future__ import annotations

import socket
from abc import ABC, abstractmethod
from types import TracebackType
from typing import Self

from aiohttp import web


class LocalHTTPServer(ABC):
    """Subclasses build their routes in `_build_app`; `port` is known once `start()` returns."""

    def __init__(self) -> None:
        self.port = 0
        self._runner: web.AppRunner | None = None

    @abstractmethod
    def _build_app(self) -> web.Application:
        """The routes of this server."""

    async def start(self) -> None:
        # A few seconds is plenty: the longest-running handler is a ≤1 s long poll.
        self._runner = web.AppRunner(self._build_app(), access_log=None, shutdown_timeout=5.0)
        await self._runner.setup()
        # Binding port 0 ourselves gives a free port with no race between "find" and "listen".
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        await web.SockSite(self._runner, sock).start()
        self.port = int(sock.getsockname()[1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()
