"""Abuse controls: question rate limits (shared through Redis) and a cap on concurrent LLM work."""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

import limits


class RateCounter(Protocol):
    async def hit(self, rate: str, *key: str) -> float | None: ...


@dataclass(frozen=True)
class Throttled:
    wait_s: int
    notify: bool  # only the first refused question of a window gets a "please wait" reply


class QuestionLimiter:
    def __init__(self, counter: RateCounter, *, user_rate: str, chat_rate: str) -> None:
        self._counter = counter
        self._user_rate = user_rate
        self._chat_rate = chat_rate
        # A window of its own for the notice: one reply per refused window, not per message.
        self._notice_rate = {
            rate: f"1/{limits.parse(rate).get_expiry()} seconds" for rate in (user_rate, chat_rate)
        }

    async def check(self, user_id: int, chat_id: int, *, group: bool) -> Throttled | None:
        """None when the question may be answered; otherwise how long to wait."""
        checks = [(self._user_rate, "user", str(user_id))]
        if group:
            checks.append((self._chat_rate, "chat", str(chat_id)))
        for rate, kind, who in checks:
            wait = await self._counter.hit(rate, "questions", kind, who)
            if wait is not None:
                notice = await self._counter.hit(self._notice_rate[rate], "notice", kind, who)
                return Throttled(wait_s=max(1, math.ceil(wait)), notify=notice is None)
        return None


class ActionLimiter:
    """Per-user rate of commands and button presses (issue 12): one member's flood must not spend
    the group's send budget. Shares the notice rule of questions: one "please wait" per window."""

    def __init__(self, counter: RateCounter, *, rate: str) -> None:
        self._counter = counter
        self._rate = rate
        self._notice_rate = f"1/{limits.parse(rate).get_expiry()} seconds"

    async def check(self, user_id: int) -> Throttled | None:
        """None when the action may run; otherwise how long to wait and whether to say so."""
        wait = await self._counter.hit(self._rate, "actions", "user", str(user_id))
        if wait is None:
            return None
        notice = await self._counter.hit(self._notice_rate, "notice", "actions", str(user_id))
        return Throttled(wait_s=max(1, math.ceil(wait)), notify=notice is None)


class ConcurrencyGate:
    """At most `size` questions talk to the model at once in this process; the rest queue up."""

    def __init__(self, size: int) -> None:
        self._semaphore = asyncio.Semaphore(size)

    @contextlib.asynccontextmanager
    async def slot(self, on_wait: Callable[[], Awaitable[object]] | None = None) -> AsyncIterator[None]:
        if self._semaphore.locked() and on_wait is not None:
            await on_wait()
        async with self._semaphore:
            yield
