"""CPU-bound steps (rendering, attribution) run off the event loop, with a time limit.

On the process's CPU pool when the caller has one (`run_cpu_on`), else on asyncio's default executor.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import ParamSpec, TypeVar, TypeVarTuple

from bot.concurrency import WorkPool

P = ParamSpec("P")
R = TypeVar("R")
Ts = TypeVarTuple("Ts")


async def run_cpu_on(pool: WorkPool | None, fn: Callable[[*Ts], R], /, *args: *Ts) -> R:
    """`fn(*args)` on `pool` (the process's CPU pool, sized for the machine), or, without one (tests, the
    CLI), on a worker thread of asyncio's default executor."""
    if pool is None:
        return await asyncio.to_thread(fn, *args)
    return await pool.run(fn, *args)


async def run_cpu_within(timeout_s: float, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
    """`fn(*args, **kwargs)` in a worker thread of asyncio's default executor; `TimeoutError` after
    `timeout_s` seconds.

    A thread cannot be killed: a step that overran finishes in the background and its result is
    dropped. Callers then use a cheap fallback (an escaped plain text), so the user still gets an answer.
    """
    async with asyncio.timeout(timeout_s):  # not wait_for: it can lose a cancel on 3.11 (gh-86296)
        return await asyncio.to_thread(fn, *args, **kwargs)
