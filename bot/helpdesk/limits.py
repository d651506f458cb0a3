"""Abuse controls: question rate limits, shared through Redis (the cap on model work: model_queue)."""

from __future__ import annotations

import math
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
