"""The line in front of the model: a cap on concurrent model calls, a bounded FIFO queue, honest notices.

Retrieval is not capped (it runs for many questions at once); only a question's two model passes
hold one of `slots`. A question is admitted on arrival while fewer than `slots + max_waiting` are in
the process, otherwise it is refused at once and told when to ask again. An admitted question that
has waited `notice_after_s` for the model is told its place in line, once. Slots pass to waiting
questions in arrival-at-the-model order, so answers come out in that order.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol

# Until a question has held a slot, the refusal's "ask again in" assumes this many seconds per question.
_FIRST_GUESS_S = 10.0
_MIN_RETRY_AFTER_S = 5
_HOLD_SMOOTHING = 0.2  # weight of the newest question in the moving average of slot-hold time


class QuestionNotices(Protocol):
    """What the asker is told while a question is in the process. Calls return at once; the messages
    go out in the background, and `settled` waits for them (so none overtakes the answer)."""

    def typing(self) -> None: ...
    def queued(self, position: int) -> None: ...
    def rate_queued(self, seconds: int) -> None: ...
    async def settled(self) -> None: ...


@dataclass(frozen=True)
class Busy:
    """Refused: the line is full. Nothing was answered or stored for this question."""

    waiting: int  # questions admitted before it and not yet answered
    retry_after_s: int  # when the line has likely drained enough to take it


class ModelQueue:
    """One per process. `slots` = LLM_MAX_CONCURRENCY, `max_waiting` = LLM_QUEUE_MAX."""

    def __init__(self, slots: int, max_waiting: int, notice_after_s: float) -> None:
        self.slots = slots
        self.max_waiting = max_waiting
        self.notice_after_s = notice_after_s
        self._free = slots
        self._line: deque[asyncio.Future[None]] = deque()
        self._admitted = 0
        self._hold_s = _FIRST_GUESS_S

    @property
    def admitted(self) -> int:
        """Questions in the process right now: retrieving, waiting for the model, or with it."""
        return self._admitted

    @property
    def waiting(self) -> int:
        """Questions whose retrieval is done and who wait for a free slot."""
        return len(self._line)

    def admit(self) -> Ticket | Busy:
        """A place in the process, or a refusal that says how long the line is and when to come back."""
        if self._admitted >= self.slots + self.max_waiting:
            ahead = self._admitted
            drain_s = self._hold_s * ahead / self.slots
            return Busy(waiting=ahead, retry_after_s=max(_MIN_RETRY_AFTER_S, math.ceil(drain_s)))
        self._admitted += 1
        return Ticket(self)

    def _leave(self) -> None:
        self._admitted -= 1

    async def _acquire(self, notices: QuestionNotices | None) -> float:
        """Waits for a slot in FIFO order; returns the seconds waited."""
        if self._free > 0 and not self._line:
            self._free -= 1
            return 0.0
        started = time.perf_counter()
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._line.append(turn)
        try:
            if notices is not None:
                if self.notice_after_s > 0:
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(self.notice_after_s):
                            await asyncio.shield(turn)
                if not turn.done():
                    notices.queued(self._line.index(turn) + 1)
                    await turn
                    notices.typing()  # the notice message ended the chat's "typing…"
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self._release()  # the slot was handed over as we were cancelled: pass it on
            else:
                self._line.remove(turn)
            raise
        return time.perf_counter() - started

    def _release(self) -> None:
        while self._line:
            turn = self._line.popleft()
            if not turn.done():
                turn.set_result(None)  # the slot goes straight to the next in line
                return
        self._free += 1

    def _record_hold(self, seconds: float) -> None:
        self._hold_s += _HOLD_SMOOTHING * (seconds - self._hold_s)


class Ticket:
    """An admitted question's place: `async with ticket:` for its whole stay, `ticket.model_turn()`
    around its model calls."""

    def __init__(self, queue: ModelQueue) -> None:
        self._queue = queue
        self._notices: QuestionNotices | None = None
        self._left = False
        self.waited_s = 0.0

    def tell(self, notices: QuestionNotices | None) -> Ticket:
        """Where this question's queue notice goes."""
        self._notices = notices
        return self

    @contextlib.asynccontextmanager
    async def model_turn(self) -> AsyncIterator[None]:
        """Holds one of the model's slots; waits in line for it (with one notice) when none is free."""
        self.waited_s += await self._queue._acquire(self._notices)
        started = time.perf_counter()
        try:
            yield
        finally:
            self._queue._record_hold(time.perf_counter() - started)
            self._queue._release()

    async def __aenter__(self) -> Ticket:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if not self._left:
            self._left = True
            self._queue._leave()
