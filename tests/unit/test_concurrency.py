"""The executors handlers and services share, and the line in front of the model."""

from __future__ import annotations

import asyncio
import functools
import os
import signal
import threading
import time

import pytest

from bot.concurrency import Pools, ProcessPool, WorkPool
from bot.helpdesk.model_queue import Busy, ModelQueue, Ticket
from bot.render.answer import render_answer


async def test_pool_work_runs_off_the_event_loop_and_reports_results_and_errors() -> None:
    pools = Pools.for_machine()
    try:
        assert pools.embed.workers >= 1
        assert pools.cpu.workers >= 2
        assert await pools.cpu.run(threading.get_ident) != threading.get_ident()
        assert await pools.cpu.run(sum, [1, 2, 3]) == 6
        with pytest.raises(ZeroDivisionError):
            await pools.cpu.run(divmod, 1, 0)
    finally:
        pools.shutdown()


async def test_a_time_limit_frees_the_caller_while_the_event_loop_stays_responsive() -> None:
    pool = WorkPool("cpu", 2)
    try:
        started = time.perf_counter()
        with pytest.raises(TimeoutError):
            await pool.run(time.sleep, 0.5, timeout_s=0.05)
        assert time.perf_counter() - started < 0.4
        # The other worker still takes work while the runaway call finishes.
        assert await pool.run(str.upper, "ok") == "OK"
    finally:
        pool.shutdown()


async def test_answers_render_in_other_processes_and_survive_a_dead_worker() -> None:
    pool = ProcessPool("render", 2, preload=("bot.render.answer",))
    try:
        await pool.warm()
        workers = pool.pids()
        assert len(workers) == 2
        assert os.getpid() not in workers
        rendered = await pool.run(functools.partial(render_answer, "**Срок** возврата: 14 дней"))
        assert rendered.rich == ["<p><b>Срок</b> возврата: 14 дней</p>"]
        with pytest.raises(ZeroDivisionError):  # a render's own error comes back as it was
            await pool.run(divmod, 1, 0)

        # A worker killed while answers are rendering (the OOM killer, say) breaks the executor under
        # every call in it; they all still get their answers, from new workers.
        answers = [
            asyncio.create_task(pool.run(functools.partial(render_answer, f"_ответ {n}_"), timeout_s=10))
            for n in range(12)
        ]
        slow = asyncio.create_task(pool.run(time.sleep, 0.5, timeout_s=10))
        await asyncio.sleep(0.1)
        os.kill(workers[0], signal.SIGKILL)
        done = await asyncio.gather(*answers)
        assert [d.rich for d in done] == [[f"<p><i>ответ {n}</i></p>"] for n in range(12)]
        await slow
        assert not set(pool.pids()) & set(workers)

        # An input that kills every worker it reaches is given up after one more try, like a timeout.
        started = time.perf_counter()
        with pytest.raises(TimeoutError):
            await pool.run(_die, timeout_s=10)
        assert time.perf_counter() - started < 5
        again = await pool.run(functools.partial(render_answer, "_снова_"))
        assert again.rich == ["<p><i>снова</i></p>"]
    finally:
        pool.shutdown()


async def test_a_stop_does_not_wait_for_a_render_that_overran() -> None:
    pool = ProcessPool("render", 1)
    await pool.warm()
    [worker] = pool.pids()
    with pytest.raises(TimeoutError):
        await pool.run(time.sleep, 60, timeout_s=0.2)
    pool.shutdown()
    # Terminated: the process can exit now, not in a minute.
    assert await asyncio.to_thread(_gone_within, worker, 5.0)


async def test_a_render_that_overran_its_time_limit_does_not_keep_holding_a_worker() -> None:
    pool = ProcessPool("render", 2, preload=("bot.render.answer",))
    try:
        await pool.warm()
        first_workers = pool.pids()
        # One call overruns (a pathological input) while another is rendering on the other worker.
        in_flight = asyncio.create_task(pool.run(functools.partial(_slow_echo, 1.0, "готово"), timeout_s=10))
        await asyncio.sleep(0.1)
        with pytest.raises(TimeoutError):
            await pool.run(time.sleep, 60, timeout_s=0.3)
        # The call in flight on the other worker still gets its answer (tried again on new workers).
        assert await in_flight == "готово"
        # Two more overrun at once and take every worker the pool has.
        overruns = [asyncio.create_task(pool.run(time.sleep, 60, timeout_s=0.5)) for _ in range(2)]
        await asyncio.sleep(0.3)
        stuck_workers = set(first_workers) | set(pool.pids())
        results = await asyncio.gather(*overruns, return_exceptions=True)
        assert all(isinstance(r, TimeoutError) for r in results)
        # The next answers render at once, not after a minute behind the stuck calls.
        started = time.perf_counter()
        answers = await asyncio.gather(
            *(pool.run(functools.partial(render_answer, f"_ответ {n}_"), timeout_s=5) for n in range(4))
        )
        assert [a.rich for a in answers] == [[f"<p><i>ответ {n}</i></p>"] for n in range(4)]
        assert time.perf_counter() - started < 3
        # No process is left running a stuck call: every worker that ran one is gone.
        current = set(pool.pids())
        for pid in stuck_workers - current:
            assert await asyncio.to_thread(_gone_within, pid, 5.0), pid
        assert not set(first_workers) & current
    finally:
        pool.shutdown()


def _slow_echo(seconds: float, value: str) -> str:
    time.sleep(seconds)
    return value


def _gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as stat:  # a zombie (exited, not yet reaped) is not alive
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:  # reaped between the two looks
        return False


def _ticket(queue: ModelQueue) -> Ticket:
    ticket = queue.admit()
    assert isinstance(ticket, Ticket)
    return ticket


async def test_a_question_cancelled_in_line_does_not_keep_a_slot() -> None:
    queue = ModelQueue(slots=1, max_waiting=5, notice_after_s=0)
    first, second, third = _ticket(queue), _ticket(queue), _ticket(queue)
    release = asyncio.Event()

    async def hold() -> None:
        async with first.model_turn():
            await release.wait()

    holder = asyncio.create_task(hold())
    await asyncio.sleep(0)
    waiting = asyncio.create_task(second.model_turn().__aenter__())
    await asyncio.sleep(0)
    assert queue.waiting == 1
    waiting.cancel()  # the asker's update handler was stopped (a shutdown, say)
    with pytest.raises(asyncio.CancelledError):
        await waiting
    release.set()
    await holder
    async with asyncio.timeout(1):
        async with third.model_turn():
            assert queue.waiting == 0


async def test_the_line_is_bounded_and_the_refusal_counts_who_is_in_it() -> None:
    queue = ModelQueue(slots=2, max_waiting=1, notice_after_s=0)
    admitted = [queue.admit() for _ in range(3)]
    refused = queue.admit()
    assert all(isinstance(t, Ticket) for t in admitted)
    assert isinstance(refused, Busy)
    assert refused.waiting == 3
    assert refused.retry_after_s >= 5
    async with admitted[0]:  # type: ignore[union-attr]
        pass
    assert isinstance(queue.admit(), Ticket)  # one left, so one more fits
