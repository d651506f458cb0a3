"""The bot's HTTP surface, one aiohttp server in both modes: the Telegram webhook (webhook mode only),
`/healthz` (alive), `/readyz` (Redis, Qdrant and the model server answer) and `/metrics` (Prometheus).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiogram import Bot, Dispatcher
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from bot.telemetry import metrics

log = logging.getLogger(__name__)

# A readiness probe returns when its dependency answers and raises when it does not.
Probe = Callable[[], Awaitable[None]]


class UpdateClaims(Protocol):
    async def claim(self, update_id: int) -> bool: ...
    async def release(self, update_id: int) -> None: ...


class WebhookHandler(SimpleRequestHandler):
    """aiogram's webhook handler (secret checked: a wrong or missing X-Telegram-Bot-Api-Secret-Token gets
    401 and is not processed), plus what replicas need:

    - each update_id is processed once across replicas (`claims`, shared in Redis); a repeat gets 200;
    - Telegram gets its 200 as soon as the update is taken, and the work runs in the background;
    - at most `max_in_flight` updates run at once; beyond that the request waits, unanswered, for a free
      slot, so Telegram (at most `max_connections` open requests per bot) slows down by itself and
      nothing accepted is dropped;
    - while stopping, new requests get 503 and Telegram retries them (on another replica).
    """

    def __init__(
        self,
        dispatcher: Dispatcher,
        bot: Bot,
        *,
        secret_token: str,
        claims: UpdateClaims,
        max_in_flight: int,
    ) -> None:
        super().__init__(dispatcher, bot, handle_in_background=True, secret_token=secret_token)
        self._claims = claims
        self._slots = asyncio.Semaphore(max_in_flight)
        self.accepting = True

    async def _handle_request_background(self, bot: Bot, request: web.Request) -> web.Response:
        if not self.accepting:
            return web.Response(status=503, text="shutting down")
        try:
            update: dict[str, Any] = await request.json(loads=bot.session.json_loads)
            update_id = int(update["update_id"])
        except (ValueError, KeyError, TypeError):
            return web.Response(status=400, text="not a Telegram update")
        try:
            first = await self._claims.claim(update_id)
        except Exception as exc:  # Redis away: Telegram keeps the update and retries
            log.warning("cannot deduplicate update %s (%s); asking Telegram to retry", update_id, exc)
            return web.Response(status=503, text="not ready")
        if not first:
            metrics.DUPLICATE_UPDATES.inc()
            return web.json_response({})
        try:
            await self._slots.acquire()
        except asyncio.CancelledError:
            # Telegram hung up while we waited: forget the claim so its retry is processed.
            await asyncio.shield(self._claims.release(update_id))
            raise
        task = asyncio.create_task(self._run(bot, update))
        self._background_feed_update_tasks.add(task)
        task.add_done_callback(self._background_feed_update_tasks.discard)
        return web.json_response({})

    async def _run(self, bot: Bot, update: dict[str, Any]) -> None:
        try:
            await self._background_feed_update(bot, update)
        except Exception:
            log.exception("update %s failed", update.get("update_id"))
        finally:
            self._slots.release()

    async def drain(self, grace_s: float) -> None:
        """Stops taking updates and waits up to `grace_s` for those in flight."""
        self.accepting = False
        pending = set(self._background_feed_update_tasks)
        if pending:
            log.info("waiting for %d webhook updates in flight", len(pending))
            await asyncio.wait(pending, timeout=grace_s)

    async def close(self) -> None:
        """The composition root closes the bot's session, after the last answer went out."""


@dataclass
class HttpSurface:
    """`probes`: name → probe, each reported in /readyz; `refresh`: gauges to update before a scrape."""

    probes: Mapping[str, Probe]
    probe_timeout_s: float
    refresh: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    webhook: WebhookHandler | None = None
    webhook_path: str = "/telegram/webhook"
    draining: bool = False

    def application(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/metrics", self._metrics)
        if self.webhook is not None:
            app.router.add_post(self.webhook_path, self.webhook.handle)
        return app

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "alive"})

    async def _readyz(self, request: web.Request) -> web.Response:
        """200 when every dependency answers; 503 naming the one that does not (or while stopping)."""
        names = list(self.probes)
        results = await asyncio.gather(*(self._check(self.probes[name]) for name in names))
        checks = dict(zip(names, results, strict=True))
        ready = all(result == "ok" for result in results) and not self.draining
        body = {"status": "ready" if ready else "not ready", "checks": checks}
        if self.draining:
            body["status"] = "stopping"
        return web.json_response(body, status=200 if ready else 503)

    async def _check(self, probe: Probe) -> str:
        try:
            async with asyncio.timeout(self.probe_timeout_s):
                await probe()
        except TimeoutError:
            return f"no answer within {self.probe_timeout_s:g} s"
        except Exception as exc:
            return f"{type(exc).__name__}: {exc}"[:300]
        return "ok"

    async def _metrics(self, request: web.Request) -> web.Response:
        for refresh in self.refresh:
            try:
                await refresh()
            except Exception as exc:  # a scrape still shows everything else
                log.warning("metrics refresh failed: %s", exc)
        return web.Response(body=generate_latest(REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST})


async def start_http(surface: HttpSurface, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Serves `surface` on host:port (0 = a free port); returns the runner and the port it listens on."""
    runner = web.AppRunner(surface.application(), access_log=None, shutdown_timeout=5.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = port
    for address in runner.addresses:
        if isinstance(address, tuple):
            bound = int(address[1])
            break
    log.info("HTTP on %s:%d: /healthz /readyz /metrics", host, bound)
    return runner, bound
