"""Composition root, Telegram half: the Bot, the Dispatcher with routers and i18n, the polling loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from functools import partial
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.types import (
    BotCommand,
    BotCommandScopeAllChatAdministrators,
    BotCommandScopeAllGroupChats,
    BotCommandScopeAllPrivateChats,
)
from aiogram_i18n.cores import FluentRuntimeCore

from bot.app import Services, build_services
from bot.config import Settings
from bot.embed.embedder import Embedder
from bot.handlers import setup_routers
from bot.handlers.sending import ChatPacer, GroupPacingMiddleware, RetryAfterMiddleware
from bot.handlers.upload_jobs import JobFiles, TelegramProgressReporter, Translate
from bot.i18n.setup import create_i18n_core, create_i18n_middleware

log = logging.getLogger(__name__)


async def run_polling(
    settings: Settings, *, embedder: Embedder | None = None, stop: asyncio.Event | None = None
) -> None:
    """The bot's main loop: long polling until SIGINT/SIGTERM (or `stop`, in tests)."""
    settings.require_bot_token()  # fail on a missing token before anything heavy loads
    async with build_services(settings, embedder=embedder) as services:
        bot = create_bot(settings, services.send_pacer)
        i18n_core = create_i18n_core()
        dp = create_dispatcher(services, i18n_core)
        await services.ingestion.clean_up_interrupted()
        await publish_commands(bot)
        me = await bot.get_me()
        log.info("bot @%s is polling; admins: %s", me.username, sorted(settings.admin_ids))
        watcher = asyncio.create_task(_stop_when_set(dp, stop)) if stop else None
        worker_stop = asyncio.Event()
        # The core's catalogues load at dispatcher startup, before the first job is taken.
        reporter = TelegramProgressReporter(
            bot, partial(_translator, i18n_core), min_interval_s=settings.upload_progress_interval_s
        )
        files = JobFiles(
            bot, max_bytes=settings.max_upload_bytes, allow_private_urls=settings.url_allow_private_networks
        )
        worker = asyncio.create_task(services.jobs.run(files, reporter, worker_stop))
        try:
            await dp.start_polling(
                bot, handle_signals=stop is None, polling_timeout=10 if stop is None else 1
            )
        finally:
            worker_stop.set()
            # A job in progress stays in the queue unacknowledged and resumes after the restart.
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
            if watcher:
                watcher.cancel()
            await bot.session.close()


def _translator(core: FluentRuntimeCore, locale: str) -> Translate:
    def translate(key: str, /, **variables: Any) -> str:
        return core.get(key, locale, **variables)

    return translate


async def _stop_when_set(dp: Dispatcher, stop: asyncio.Event) -> None:
    await stop.wait()
    await dp.stop_polling()


def create_bot(settings: Settings, pacer: ChatPacer) -> Bot:
    session = AiohttpSession()
    if settings.telegram_api_url:
        session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_url))
    # Outermost first: every attempt, a retry after a 429 too, waits for its own pacing slot, so what
    # Telegram receives stays within the budget even when retries bunch up.
    session.middleware(RetryAfterMiddleware())
    session.middleware(GroupPacingMiddleware(pacer))
    return Bot(
        settings.require_bot_token(),
        session=session,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML),
    )


def create_dispatcher(services: Services, i18n_core: FluentRuntimeCore | None = None) -> Dispatcher:
    # Services reach handlers by parameter name through aiogram's workflow data.
    dp = Dispatcher(
        settings=services.settings,
        answering=services.answering,
        ingestion=services.ingestion,
        admins=services.admins,
        preferences=services.preferences,
        feedback=services.feedback,
        desk=services.desk,
        delivery=services.delivery,
        jobs=services.jobs,
    )
    create_i18n_middleware(i18n_core).setup(dispatcher=dp)
    dp.include_router(setup_routers())
    return dp


_COMMANDS: dict[str, dict[str, str]] = {
    "ask": {"en": "Ask the knowledge base", "ru": "Спросить базу знаний"},
    "help": {"en": "How to ask, examples", "ru": "Как спросить, примеры"},
    "reset": {"en": "Forget the conversation", "ru": "Забыть разговор"},
    "settings": {"en": "Language, sources, behaviour", "ru": "Язык, источники, поведение"},
    "upload": {"en": "Add the attached file", "ru": "Добавить приложенный файл"},
    "add_url": {"en": "Add a web page", "ru": "Добавить веб-страницу"},
    "docs": {"en": "List documents", "ru": "Список документов"},
    "feedback": {"en": "Export ratings (CSV)", "ru": "Выгрузить оценки (CSV)"},
}
_MENUS: list[
    tuple[
        BotCommandScopeAllPrivateChats | BotCommandScopeAllGroupChats | BotCommandScopeAllChatAdministrators,
        list[str],
    ]
] = [
    (BotCommandScopeAllPrivateChats(), ["help", "reset", "settings"]),
    (BotCommandScopeAllGroupChats(), ["ask", "help"]),
    (
        BotCommandScopeAllChatAdministrators(),
        ["ask", "help", "upload", "add_url", "docs", "settings", "feedback", "reset"],
    ),
]


async def publish_commands(bot: Bot) -> None:
    """The command menus users see in Telegram clients: private chats, group members, group admins."""
    for scope, names in _MENUS:
        for language in ("en", "ru"):
            await bot.set_my_commands(
                [BotCommand(command=name, description=_COMMANDS[name][language]) for name in names],
                scope=scope,
                language_code=None if language == "en" else language,
            )
