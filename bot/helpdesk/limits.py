"""Abuse controls: question rate limits, shared through Redis (the cap on model work: model_queue)."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
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
