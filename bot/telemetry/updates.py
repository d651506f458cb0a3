"""The updates this process is working on: their ids in every log line, and a count shutdown waits on."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, Update

from bot.telemetry import metrics
from bot.telemetry.logs import log_context

log = logging.getLogger(__name__)


class UpdateTracker(BaseMiddleware):
    """An outer update middleware: binds update_id/chat_id to the log context and tracks the handling
    tasks, so a stopping process can wait for the answers in flight (or cancel them after a grace)."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
            self._idle.clear()
            metrics.UPDATES_IN_FLIGHT.inc()
        chat = getattr(data.get("event_chat"), "id", None)
        update_id = event.update_id if isinstance(event, Update) else None
        try:
            with log_context(update_id=update_id, chat_id=chat):
                return await handler(event, data)
        finally:
            if task is not None:
                self._tasks.discard(task)
                metrics.UPDATES_IN_FLIGHT.dec()
                if not self._tasks:
                    self._idle.set()

    async def drain(self, grace_s: float) -> bool:
        """Waits up to `grace_s` for every update in flight; then cancels the rest. True if all finished."""
        try:
            async with asyncio.timeout(grace_s):
                await self._idle.wait()
        except TimeoutError:
            log.warning("%d updates still in flight after %.0f s; cancelling them", self.in_flight, grace_s)
            for task in list(self._tasks):
                task.cancel()
            return False
        return True
