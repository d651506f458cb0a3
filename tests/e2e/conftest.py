"""The real polling loop, started per test against the fake Bot API and grounded LLM servers."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import traceback
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from bot.app import run_migrations
from bot.config import Settings
from bot.embed.embedder import Embedder
from bot.telegram_app import run_polling
from tests.conftest import SettingsFactory
from tests.support.telegram_server import FakeTelegramServer

BotStarter = Callable[..., contextlib.AbstractAsyncContextManager[Settings]]


@pytest.fixture
def start_bot(
    make_settings: SettingsFactory, embedder: Embedder, telegram_server: FakeTelegramServer
) -> BotStarter:
    """Runs the real polling loop (schema migrated first) against the fake Bot API server."""

    @contextlib.asynccontextmanager
    async def start(**overrides: object) -> AsyncIterator[Settings]:
        settings = make_settings(telegram_api_url=telegram_server.base_url, **overrides)
        await run_migrations(settings, embedder)
        stop = asyncio.Event()
        task = asyncio.create_task(run_polling(settings, embedder=embedder, stop=stop))
        await telegram_server.wait_for("getUpdates")  # the bot is up and polling
        try:
            yield settings
        finally:
            stop.set()
            # A stop may wait out the grace period for answers in flight, then closes everything else.
            try:
                await asyncio.wait_for(asyncio.shield(task), settings.shutdown_grace_s + 30)
            except TimeoutError:
                _print_stacks()  # what the stopping bot still waits for, in the failure's captured output
                task.cancel()
                raise

    return start


def _print_stacks() -> None:
    for pending in asyncio.all_tasks():
        print(f"--- {pending.get_name()}: {pending.get_coro()}", file=sys.stderr)
        pending.print_stack(limit=12, file=sys.stderr)
        for frame in _awaited_frames(pending.get_coro()):  # the whole await chain, not only the top frame
            print(
                f"    awaits {frame.f_code.co_filename}:{frame.f_lineno} {frame.f_code.co_name}",
                file=sys.stderr,
            )
    for thread_id, frame in sys._current_frames().items():
        print(f"--- thread {thread_id}", file=sys.stderr)
        traceback.print_stack(frame, limit=12, file=sys.stderr)


def _awaited_frames(awaitable: object) -> list[Any]:
    frames = []
    while awaitable is not None:
        frame = getattr(awaitable, "cr_frame", None) or getattr(awaitable, "ag_frame", None)
        if frame is not None:
            frames.append(frame)
        awaitable = getattr(awaitable, "cr_await", None) or getattr(awaitable, "ag_await", None)
    return frames


@pytest.fixture
def classic_answers(telegram_server: FakeTelegramServer) -> None:
    """Answers go out as classic sendMessage calls (the Bot API server refuses rich messages), for tests
    that read answers as sendMessage; the rich path has its own tests (test_streamed_answers)."""
    telegram_server.rich_messages = False
