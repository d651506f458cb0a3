"""The processes: `run` (the bot, by polling or webhook, with the ingestion worker in-process unless told
otherwise) and `worker` (ingestion only). Both serve /healthz, /readyz and /metrics, and both stop
gracefully on SIGTERM/SIGINT:

1. no new updates (polling stops; the webhook answers 503, so Telegram retries elsewhere);
2. answers in flight finish, for at most SHUTDOWN_GRACE_S;
3. an unfinished ingestion job goes back to the queue, where the next worker takes it at once;
4. every client closes (the Bot session, the HTTP server, Redis, Qdrant, the model client).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import AsyncIterator
from functools import partial
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram_i18n.cores import FluentRuntimeCore

from bot.app import Services, build_services
from bot.cancellation import cancel_and_wait
from bot.config import Settings
from bot.embed.embedder import Embedder
from bot.handlers.question_journal import QuestionJournal
from bot.handlers.upload_jobs import JobFiles, TelegramProgressReporter, Translate
from bot.heap import startup_heap_frozen
from bot.http_app import HttpSurface, WebhookHandler, start_http
from bot.i18n.setup import create_i18n_core
from bot.logging_setup import Redactor, install_redaction, secrets_of
from bot.telegram_app import check_token, create_bot, create_dispatcher, publish_commands
from bot.telemetry import metrics
from bot.telemetry.updates import UpdateTracker

log = logging.getLogger(__name__)


async def serve_bot(
    settings: Settings, *, embedder: Embedder | None = None, stop: asyncio.Event | None = None
) -> None:
    """The bot until SIGTERM/SIGINT (or `stop`, in tests), by polling or by webhook (TELEGRAM_MODE)."""
    settings.require_bot_token()  # fail on a missing token before anything heavy loads
    install_redaction(Redactor(secrets_of(settings)))  # no secret in any log record, ours or a library's
    polling_timeout = 10 if stop is None else 1  # tests stop often: short long-polls
    await check_token(settings)
    stop = stop or _stop_on_signals()
    async with build_services(settings, embedder=embedder) as services:
        bot = create_bot(settings, services.send_pacer)
        async with contextlib.AsyncExitStack() as stack:
            stack.push_async_callback(bot.session.close)  # closed last: answers in flight still send
            i18n_core = create_i18n_core()
            dp = create_dispatcher(services, i18n_core)
            await services.pools.render.warm()  # its processes start now, not under the first answer
            stack.enter_context(startup_heap_frozen())  # full GC passes skip the start-up heap
            tracker = UpdateTracker()
            dp.update.outer_middleware(tracker)
            await services.ingestion.clean_up_interrupted()
            await publish_commands(bot)
            me = await bot.get_me()
            webhook = _webhook_handler(settings, dp, bot, services)
            surface = _surface(settings, services, webhook)
            await stack.enter_async_context(_http(surface, settings))
            if webhook is not None:
                await _set_webhook(settings, dp, bot)
            log.info(
                "bot @%s is up (%s); admins: %s",
                me.username,
                settings.telegram_mode,
                sorted(settings.admin_ids),
            )
            if not settings.admin_ids:
                log.warning(
                    "ADMIN_IDS is empty: nobody can add documents in private chats. Send the bot a file: "
                    "it replies with your numeric id, which goes into ADMIN_IDS."
                )
            # Never blocks the start: warns while the model server is down; /readyz reports it too.
            model_check = asyncio.create_task(services.answering.watch_model_server())
            stack.push_async_callback(_finish, model_check)
            _start_web_refresher(settings, services, stack)
            worker = IngestionLoop(settings, services, bot, i18n_core)
            stopped_at: list[float] = []
            journal: QuestionJournal = dp["question_journal"]
            recovery: set[asyncio.Task[int]] = set()

            async def recover() -> None:
                # After the catalogues load: finish what the last run left (answers, then questions).
                recovery.add(asyncio.create_task(services.outbox.resume(bot)))
                recovery.add(asyncio.create_task(journal.replay(dp, bot)))

            async def finish_in_flight() -> None:
                # Runs first at dispatcher shutdown, before i18n unloads the texts the answers still need.
                spent = time.monotonic() - stopped_at[0] if stopped_at else 0.0
                await tracker.drain(max(0.0, settings.shutdown_grace_s - spent))
                # What the grace period did not finish stays journaled and is answered after the restart.
                await journal.interrupt()
                await cancel_and_wait(recovery)
                await worker.stop()  # an unfinished upload goes back to the queue

            dp.startup.register(recover)

            # aiogram runs shutdown handlers in order of registration; i18n's came first, so move ours ahead.
            dp.shutdown.register(finish_in_flight)
            dp.shutdown.handlers.insert(0, dp.shutdown.handlers.pop())
            intake: asyncio.Task[Any]
            if webhook is None:
                intake = asyncio.create_task(
                    dp.start_polling(
                        bot, handle_signals=False, close_bot_session=False, polling_timeout=polling_timeout
                    )
                )
            else:
                await dp.emit_startup(bot=bot, dispatcher=dp, bots=[bot], **dp.workflow_data)
                intake = asyncio.create_task(stop.wait())
            if settings.ingest_in_process:
                worker.start()
            try:
                await _first_of(stop, intake)
                stopped_at.append(time.monotonic())
                surface.draining = True
                log.info("stopping: no new updates; finishing %d in flight", tracker.in_flight)
                if webhook is None:
                    with contextlib.suppress(RuntimeError):  # polling already ended by itself
                        await dp.stop_polling()  # its shutdown runs finish_in_flight
                else:
                    await webhook.drain(settings.shutdown_grace_s)
                    await dp.emit_shutdown(bot=bot, dispatcher=dp, bots=[bot], **dp.workflow_data)
                await _finish(intake)
            finally:
                await worker.stop()
    log.info("stopped")


async def serve_worker(
    settings: Settings, *, embedder: Embedder | None = None, stop: asyncio.Event | None = None
) -> None:
    """An ingestion worker process: takes upload jobs from the Redis stream until SIGTERM/SIGINT."""
    settings.require_bot_token()  # it downloads files and edits progress messages as the bot
    install_redaction(Redactor(secrets_of(settings)))
    stop = stop or _stop_on_signals()
    async with build_services(settings, embedder=embedder) as services:
        bot = create_bot(settings, services.send_pacer)
        async with contextlib.AsyncExitStack() as stack:
            stack.push_async_callback(bot.session.close)
            i18n_core = create_i18n_core()
            await i18n_core.startup()  # the catalogues load here; the bot's dispatcher does it on startup
            surface = _surface(settings, services, None)
            await stack.enter_async_context(_http(surface, settings))
            stack.enter_context(startup_heap_frozen())
            await services.jobs.forget_idle_consumers()
            log.info("ingestion worker is up")
            worker = IngestionLoop(settings, services, bot, i18n_core)
            worker.start()
            _start_web_refresher(settings, services, stack)
            try:
                await stop.wait()
                surface.draining = True
            finally:
                await worker.stop()
    log.info("stopped")


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def _first_of(stop: asyncio.Event, intake: asyncio.Task[Any]) -> None:
    waiter = asyncio.create_task(stop.wait())
    await asyncio.wait({waiter, intake}, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()


def _start_web_refresher(settings: Settings, services: Services, stack: contextlib.AsyncExitStack) -> None:
    """Pages added by URL are re-checked in the background; every process tries, a Redis lock lets
    one of them run each pass (URL_REFRESH_HOURS=0: never)."""
    if settings.url_refresh_hours <= 0:
        return
    refresher = asyncio.create_task(services.web_sources.run_periodically(asyncio.Event()))
    stack.push_async_callback(_finish, refresher)


async def _finish(task: asyncio.Task[Any]) -> None:
    await cancel_and_wait([task])  # bounded: a swallowed cancel must not hang the stop


def _webhook_handler(
    settings: Settings, dp: Dispatcher, bot: Bot, services: Services
) -> WebhookHandler | None:
    if settings.telegram_mode != "webhook":
        return None
    assert settings.webhook_secret is not None  # the settings validator requires it
    assert services.seen_updates is not None
    return WebhookHandler(
        dp,
        bot,
        secret_token=settings.webhook_secret.get_secret_value(),
        claims=services.seen_updates,
        max_in_flight=settings.webhook_max_in_flight,
    )


async def _set_webhook(settings: Settings, dp: Dispatcher, bot: Bot) -> None:
    # Every replica sets the same webhook, so whichever starts last leaves it right.
    assert settings.webhook_secret is not None
    await bot.set_webhook(
        url=settings.webhook_base_url + settings.webhook_path,
        secret_token=settings.webhook_secret.get_secret_value(),
        allowed_updates=dp.resolve_used_update_types(),
        max_connections=settings.webhook_max_in_flight,
    )


def _surface(settings: Settings, services: Services, webhook: WebhookHandler | None) -> HttpSurface:
    async def refresh_queue() -> None:
        queued, running = await services.jobs.backlog()
        metrics.INGEST_QUEUE.labels(state="queued").set(queued - running)
        metrics.INGEST_QUEUE.labels(state="running").set(running)

    return HttpSurface(
        probes=services.probes,
        probe_timeout_s=settings.readiness_timeout_s,
        refresh=[refresh_queue],
        webhook=webhook,
        webhook_path=settings.webhook_path,
    )


@contextlib.asynccontextmanager
async def _http(surface: HttpSurface, settings: Settings) -> AsyncIterator[None]:
    runner, _ = await start_http(surface, settings.http_host, settings.http_port)
    try:
        yield
    finally:
        await runner.cleanup()


class IngestionLoop:
    """The upload-job loop as a task; `stop` hands an unfinished job back to the queue."""

    def __init__(
        self, settings: Settings, services: Services, bot: Bot, i18n_core: FluentRuntimeCore
    ) -> None:
        self._jobs = services.jobs
        # Progress edits skip a spent group budget; summaries go through the outbox (issue 12).
        self._reporter = TelegramProgressReporter(
            bot,
            partial(_translator, i18n_core),
            min_interval_s=settings.upload_progress_interval_s,
            room=services.send_pacer,
            outbox=services.outbox,
        )
        self._files = JobFiles(
            bot, max_bytes=settings.max_upload_bytes, allow_private_urls=settings.url_allow_private_networks
        )
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._jobs.run(self._files, self._reporter, self._stop))

    async def stop(self) -> None:
        if self._task is not None:
            self._stop.set()
            await _finish(self._task)
            self._task = None
            await self._reporter.close()


def _translator(core: FluentRuntimeCore, locale: str) -> Translate:
    def translate(key: str, /, **variables: Any) -> str:
        return core.get(key, locale, **variables)

    return translate
