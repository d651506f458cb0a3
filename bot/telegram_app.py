"""Composition root, Telegram half: the Bot, the Dispatcher with routers and i18n, the polling loop."""

from __future__ import annotations

import asyncio
import logging

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.types import BotCommand, BotCommandScopeAllPrivateChats

from bot.app import Services, build_services
from bot.config import Settings
from bot.embed.embedder import Embedder
from bot.handlers import setup_routers
from bot.handlers.sending import RetryAfterMiddleware
from bot.i18n.setup import create_i18n_middleware

log = logging.getLogger(__name__)


async def run_polling(
    settings: Settings, *, embedder: Embedder | None = None, stop: asyncio.Event | None = None
) -> None:
    """The bot's main loop: long polling until SIGINT/SIGTERM (or `stop`, in tests)."""
    bot = create_bot(settings)  # validates BOT_TOKEN before anything heavy loads
    async with build_services(settings, embedder=embedder) as services:
        dp = create_dispatcher(services)
        await services.ingestion.clean_up_interrupted()
        await publish_commands(bot)
        me = await bot.get_me()
        log.info("bot @%s is polling; admins: %s", me.username, sorted(settings.admin_ids))
        watcher = asyncio.create_task(_stop_when_set(dp, stop)) if stop else None
        try:
            await dp.start_polling(
                bot, handle_signals=stop is None, polling_timeout=10 if stop is None else 1
            )
        finally:
            if watcher:
                watcher.cancel()
            await bot.session.close()


async def _stop_when_set(dp: Dispatcher, stop: asyncio.Event) -> None:
    await stop.wait()
    await dp.stop_polling()


def create_bot(settings: Settings) -> Bot:
    session = AiohttpSession()
    if settings.telegram_api_url:
        session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_url))
    session.middleware(RetryAfterMiddleware())
    return Bot(
        settings.require_bot_token(),
        session=session,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML),
    )


def create_dispatcher(services: Services) -> Dispatcher:
    # Services reach handlers by parameter name through aiogram's workflow data.
    dp = Dispatcher(
        answering=services.answering,
        ingestion=services.ingestion,
        settings=services.settings,
    )
    create_i18n_middleware().setup(dispatcher=dp)
    dp.include_router(setup_routers())
    return dp


async def publish_commands(bot: Bot) -> None:
    """The command menu users see in Telegram clients, in both languages."""
    commands = {
        "en": [("help", "How to ask, examples"), ("reset", "Forget our conversation")],
        "ru": [("help", "Как спросить, примеры"), ("reset", "Забыть наш разговор")],
    }
    for language, items in commands.items():
        await bot.set_my_commands(
            [BotCommand(command=c, description=d) for c, d in items],
            scope=BotCommandScopeAllPrivateChats(),
            language_code=None if language == "en" else language,
        )
