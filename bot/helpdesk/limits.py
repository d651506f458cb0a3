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


class WaitingLine(Protocol):
    async def join(self, user_id: int) -> int: ...
    async def leave(self, user_id: int) -> None: ...


@dataclass(frozen=True)
class Throttled:
    wait_s: int
    notify: bool  # only the first refused question of a window gets a "please wait" reply
    waiting: int = 0  # the asker's questions already waiting for their rate window ("user" only)
    kind: str = "user"  # whose budget ran out: "user" or "chat" (a whole group's)


class QuestionLimiter:
    def __init__(self, counter: RateCounter, *, user_rate: str, chat_rate: str) -> None:
        self._counter = counter
        self._user_rate = user_rate
        self._chat_rate = chat_rate
        # A window of its own for the notice: one reply per refused window, not per message.
        self._notice_rate = {
            rate: f"1/{limits.parse(rate).get_expiry()} seconds" for rate in (user_rate, chat_rate)
        }

    async def admit(
        self,
        user_id: int,
        chat_id: int,
        *,
        group: bool,
        line: WaitingLine,
        queue_max: int,
        on_queued: Callable[[int], Awaitable[object]] | None = None,
    ) -> Throttled | None:
        """None once the question may be answered, waiting for the user's rate window if needed.

        A question over the per-user rate waits (up to `queue_max` of one user's questions at once,
        counted across replicas by `line`), with one `on_queued(seconds)` call; beyond that it is
        refused with how long to wait. A group over its own rate is refused as before.
        """
        wait = await self._counter.hit(self._user_rate, "questions", "user", str(user_id))
        if wait is not None:
            waiting = await line.join(user_id)
            try:
                if waiting > queue_max:
                    notice = await self._counter.hit(
                        self._notice_rate[self._user_rate], "notice", "user", str(user_id)
                    )
                    return Throttled(
                        wait_s=max(1, math.ceil(wait)), notify=notice is None, waiting=waiting - 1
                    )
                if on_queued is not None:
                    await on_queued(max(1, math.ceil(wait)))
                while wait is not None:
                    # Other questions of this user may take the freed slot first: re-check after each wait.
                    await asyncio.sleep(max(wait, 0.05))
                    wait = await self._counter.hit(self._user_rate, "questions", "user", str(user_id))
            finally:
                await line.leave(user_id)
        if group:
            wait = await self._counter.hit(self._chat_rate, "questions", "chat", str(chat_id))
            if wait is not None:
                notice = await self._counter.hit(
                    self._notice_rate[self._chat_rate], "notice", "chat", str(chat_id)
                )
                return Throttled(wait_s=max(1, math.ceil(wait)), notify=notice is None, kind="chat")
        return None


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
