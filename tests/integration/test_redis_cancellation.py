"""A stop must end tasks that wait on Redis. It cancels what is still waiting (a paced group message, a
delivery, a history read). On Python 3.11, redis-py (which calls `asyncio.wait_for` inside commands) loses
10-18 % of the cancels that land mid-command (CPython gh-86296, fixed in 3.12): the task goes on to its
next wait (a paced send sleeps up to a minute), and a stop that awaited it hung. `cancel_and_wait`
cancels again after a bounded wait; these tests cancel real Redis-backed waits at random moments."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable

from bot.cancellation import cancel_and_wait
from bot.storage.rate_limits import SendPacer
from bot.storage.redis_connections import connect_redis

TRIES = 150  # 3.11 lost ~20 of 150 first cancels here
GROUP = -100_777


async def _left_running(call: Callable[[], Awaitable[object]]) -> int:
    """Runs `call` in a loop (with a long wait after each round, like a paced send), cancels it through
    `cancel_and_wait` at a random moment within its first 3 ms, TRIES times; returns how many tasks
    were still running afterwards."""

    async def loop() -> None:
        while True:
            await call()
            await asyncio.sleep(30)

    left = 0
    for _ in range(TRIES):
        task = asyncio.create_task(loop())
        await asyncio.sleep(random.random() * 0.003)
        left += await cancel_and_wait([task], wait_s=0.3)
    return left


async def test_a_cancelled_history_read_ends_its_task(redis_url: str) -> None:
    connections = connect_redis(url=redis_url)
    try:
        assert await _left_running(lambda: connections.client.get("kb:history:1")) == 0
    finally:
        await connections.close()


async def test_a_cancelled_paced_send_ends_its_task(redis_url: str) -> None:
    connections = connect_redis(url=redis_url)
    pacer = SendPacer(connections.pool, "1/minute")
    try:
        await pacer.wait_turn(GROUP)  # the group's budget is spent: every later turn waits
        assert await _left_running(lambda: pacer.wait_turn(GROUP)) == 0
    finally:
        await connections.close()
