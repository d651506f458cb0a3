"""Composition root, Telegram half: the Bot, the Dispatcher with routers and i18n, the polling loop."""

from __future__ import annotations

import asyncio
import logging

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramNetworkError, TelegramUnauthorizedError
from aiogram.types import (
    BotCommand,
    BotCommandScopeAllChatAdministrators,
    BotCommandScopeAllGroupChats,
    BotCommandScopeAllPrivateChats,
)
from aiogram_i18n.cores import FluentRuntimeCore

from bot.app import Services
from bot.config import ConfigError, Settings
from bot.domain import TelegramUnreachableError
from bot.embed.embedder import Embedder
from bot.handlers import setup_routers
from bot.handlers.action_limits import ActionLimits
from bot.handlers.chat_preferences import ChatPreferencesMiddleware
from bot.handlers.keyboards import SignedButtons
from bot.handlers.question_journal import QuestionJournal
from bot.handlers.sending import ChatPacer, GroupPacingMiddleware, KeptResponseModels, RetryAfterMiddleware
from bot.helpdesk.button_signing import ButtonSigner
from bot.i18n.setup import create_i18n_middleware
from bot.telemetry.bot_api import TelegramCallMetrics

log = logging.getLogger(__name__)


async def run_polling(
    settings: Settings, *, embedder: Embedder | None = None, stop: asyncio.Event | None = None
) -> None:
    """The bot's main loop until SIGINT/SIGTERM (or `stop`, in tests); see `bot.runner.serve_bot`."""
    from bot.runner import serve_bot  # the runner builds on this module

    await serve_bot(settings, embedder=embedder, stop=stop)


async def check_token(settings: Settings) -> None:
    """Asks Telegram who the bot is before anything heavy starts.

    Raises ConfigError (one line naming BOT_TOKEN) when Telegram rejects the token (401), and
    TelegramUnreachableError (one line naming the server) when the Bot API server cannot be reached.
    """
    session = _session(settings)
    try:
        await Bot(settings.require_bot_token(), session=session).get_me()
    except TelegramUnauthorizedError:
        raise ConfigError(
            "BOT_TOKEN was rejected by Telegram (401 Unauthorized): copy the token again from @BotFather"
        ) from None
    except TelegramNetworkError as exc:
        server = settings.telegram_api_url or "https://api.telegram.org"
        raise TelegramUnreachableError(
            f"Telegram's Bot API server {server} is not reachable ({exc.message}): check the network"
            " or TELEGRAM_API_URL"
        ) from None
    finally:
        await session.close()


def _session(settings: Settings) -> AiohttpSession:
    if settings.telegram_api_url:
        return AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_url))
    return AiohttpSession()


def create_bot(settings: Settings, pacer: ChatPacer) -> Bot:
    session = _session(settings)
    session.middleware(KeptResponseModels())  # issue 9: aiogram's reply models are built once
    # Outermost first: every attempt, a retry after a 429 too, waits for its own pacing slot, so what
    # Telegram receives stays within the budget even when retries bunch up.
    session.middleware(RetryAfterMiddleware())
    session.middleware(GroupPacingMiddleware(pacer))
    # Innermost: counts each 429 the retry middleware will retry, and times the sends themselves.
    session.middleware(TelegramCallMetrics())
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
        onboarding=services.onboarding,
        albums=services.albums,
        web_sources=services.web_sources,
        pools=services.pools,
        outbox=services.outbox,
        question_journal=QuestionJournal(services.outbox_records),
    )
    # The chat's settings once per update, before the locale getter and the handlers read them.
    dp.update.outer_middleware(ChatPreferencesMiddleware())
    create_i18n_middleware(i18n_core).setup(dispatcher=dp)
    # Button data is signed for its chat; a forged or foreign press reaches no handler (issue 12).
    signer = button_signer(services.settings)
    dp["signer"] = signer
    dp.callback_query.outer_middleware(SignedButtons(signer))
    # One member's flood of commands or presses must not spend the group's send budget (issue 12).
    limits = ActionLimits(services.action_limiter)
    dp.message.outer_middleware(limits)
    dp.callback_query.outer_middleware(limits)
    dp.include_router(setup_routers())
    return dp


def button_signer(settings: Settings) -> ButtonSigner:
    secret = settings.callback_secret.get_secret_value() if settings.callback_secret else None
    return ButtonSigner.from_secrets(secret, settings.require_bot_token())


_COMMANDS: dict[str, dict[str, str]] = {
    "ask": {"en": "Ask the knowledge base", "ru": "Спросить базу знаний"},
    "help": {"en": "How to ask, examples", "ru": "Как спросить, примеры"},
    "reset": {"en": "Forget the conversation", "ru": "Забыть разговор"},
    "settings": {"en": "Language, sources, behaviour", "ru": "Язык, источники, поведение"},
    "upload": {"en": "Add the attached file", "ru": "Добавить приложенный файл"},
    "add_url": {"en": "Add a web page", "ru": "Добавить веб-страницу"},
    "add_site": {"en": "Add a website (up to N pages)", "ru": "Добавить сайт (до N страниц)"},
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
        ["ask", "help", "upload", "add_url", "add_site", "docs", "settings", "feedback", "reset"],
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
