"""Named pools for CPU-bound work, so the event loop only ever waits on I/O.

Three pools, created and shut down by the composition root (`bot.app.build_services`):

- ``embed``: ONNX inference (e5). onnxruntime releases the GIL, so one single-threaded session run per
  core gives real parallelism: several questions embed at once instead of queueing behind each other.
- ``cpu``: pure-Python work (parsing, chunking, BM25 encoding, rendering, attribution). It holds the GIL,
  so it adds no throughput, but the event loop keeps answering Telegram and Redis while it runs
  (CPython hands the GIL back every `sys.getswitchinterval()`, 5 ms).
- ``render``: worker *processes* that turn answers into Telegram's HTML. Rendering is the one pure-Python
  step that runs many times a second (every draft of every streamed answer); in threads it held the GIL
  in 5 ms slices and the event loop waited behind it (stalls of 20-35 ms with 20 answers streaming,
  `bench.streaming`). Only text goes in and out.

Any service reuses them the same way: ``await pools.cpu.run(fn, *args, timeout_s=2.0)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import multiprocessing
import os
import time
import weakref
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, TypeVar, TypeVarTuple

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

log = logging.getLogger(__name__)


class WorkPool:
    """A fixed number of worker threads under a name (thread names show it in py-spy and logs)."""

    def __init__(self, name: str, workers: int) -> None:
        if workers < 1:
            raise ValueError(f"pool {name!r} needs at least one worker, got {workers}")
        self.name = name
        self.workers = workers
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)

    async def run(self, fn: Callable[[*Ts], T], *args: *Ts, timeout_s: float | None = None) -> T:
        """`fn(*args)` on a worker thread; its result, or its exception re-raised here.

        With `timeout_s` (seconds) the caller gets `TimeoutError` after that long. A thread cannot be
        stopped, so the call itself runs on to its end and keeps its worker busy until then: give
        runaway-prone work (regex-based rendering, say) a fallback, not a retry.
        """
        future = asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)
        if timeout_s is None:
            return await future
        async with asyncio.timeout(timeout_s):  # not wait_for: it can lose a cancel on 3.11 (gh-86296)
            return await future

    def shutdown(self) -> None:
        """Stops taking work; queued calls are cancelled, running ones finish in the background."""
        self._executor.shutdown(wait=False, cancel_futures=True)


class ProcessPool:
    """A fixed number of worker processes for pure-Python work that must not hold this process's GIL.

    Workers come from a fork server that has imported `preload` once (`multiprocessing` "forkserver":
    no copy of this process's heap, models or sockets, and a new worker is a fork of a small process).
    They start at the first call (`warm` starts them ahead). `fn` and its arguments and result cross
    processes by pickle: `fn` must be a module-level function, or a `functools.partial` of one.
    """

    def __init__(self, name: str, workers: int, preload: tuple[str, ...] = ()) -> None:
        if workers < 1:
            raise ValueError(f"pool {name!r} needs at least one worker, got {workers}")
        self.name = name
        self.workers = workers
        self._context = multiprocessing.get_context("forkserver")
        self._preload = preload
        self._context.set_forkserver_preload(list(preload))
        self._executor = self._new_executor()
        # Executors whose workers the pool terminated because a call overran its time limit.
        self._retired: weakref.WeakSet[ProcessPoolExecutor] = weakref.WeakSet()

    def _new_executor(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self.workers, mp_context=self._context, initializer=_yield_to_the_bot
        )

    async def run(self, fn: Callable[[*Ts], T], *args: *Ts, timeout_s: float | None = None) -> T:
        """`fn(*args)` in a worker process; its result, or its exception re-raised here.

        Raises TimeoutError after `timeout_s` seconds. A call that overran its time limit is not left
        running: a process cannot be stopped alone without breaking its executor, so the pool starts new
        workers for the calls that follow and terminates the old ones (SIGTERM); the other calls that
        were in flight or queued on them are tried again on the new workers (that retry is not counted
        as a death). Also raises TimeoutError when the worker died under the call (killed, out of
        memory) twice: a dead worker breaks the whole executor and every call in it, so the pool
        replaces its workers and each broken call is tried once more on the new ones (a call that was
        only queued then simply runs).
        """
        deaths = 0
        running: tuple[ProcessPoolExecutor, Future[T]] | None = None  # the call when the time ran out
        try:
            async with asyncio.timeout(timeout_s):  # not wait_for: it can lose a cancel on 3.11 (gh-86296)
                while True:
                    executor = self._executor
                    try:
                        call = executor.submit(fn, *args)
                    except BrokenProcessPool as exc:
                        call = _failed(exc)
                    except RuntimeError:  # shut down as the pool retired it, between two lines: again
                        if executor is self._executor:
                            raise
                        continue
                    try:
                        return await asyncio.wrap_future(call)
                    except BrokenProcessPool as exc:
                        if executor in self._retired:
                            continue  # terminated on purpose, for a call that overran: not this one's fault
                        self._replace(executor)
                        deaths += 1
                        if deaths == 2:
                            raise TimeoutError(f"the {self.name} worker process died") from exc
                    except asyncio.CancelledError:
                        running = (executor, call)
                        raise
        except TimeoutError:
            # A call that never started is cancelled here; one that is running would hold its worker to
            # its end: retire that executor's workers. (A caller's own cancel leaves the call be.)
            if running is not None and not running[1].cancel() and not running[1].done():
                self._retire(running[0])
            raise

    def _replace(self, broken: ProcessPoolExecutor) -> None:
        if self._executor is broken:  # the first of the broken calls to get here replaces it
            log.error("a %s worker process died; starting new ones", self.name)
            self._executor = self._new_executor()
            broken.shutdown(wait=False, cancel_futures=True)

    def _retire(self, stuck: ProcessPoolExecutor) -> None:
        """New workers for the calls that follow; the old ones terminated, the stuck call's with them."""
        if self._executor is not stuck:  # already replaced (another call overran, or a worker died)
            return
        log.warning("a %s call overran its time limit; its workers are replaced", self.name)
        self._executor = self._new_executor()
        self._retired.add(stuck)
        _terminate(stuck)

    async def warm(self) -> None:
        """Starts every worker now and imports `preload` in it (the first calls would otherwise wait for
        that, ~0.5 s or more). The pool starts a worker for a call that finds none idle, so `workers`
        overlapping calls start them all. (The fork server is one per process: one started earlier for
        another pool preloaded that pool's modules only.)"""
        await asyncio.gather(*(self.run(_import_all, self._preload) for _ in range(self.workers)))

    def pids(self) -> list[int]:
        """The worker processes' ids (for health checks and tests)."""
        processes = getattr(self._executor, "_processes", None) or {}
        return sorted(processes)

    def shutdown(self) -> None:
        """Stops taking work: queued calls are cancelled and the workers are terminated (SIGTERM), so a
        call that overran its time limit cannot hold up the process's exit (the interpreter waits for
        live workers). The runner calls this after the answers in flight are done."""
        _terminate(self._executor, cancel_futures=True)


def _terminate(executor: ProcessPoolExecutor, *, cancel_futures: bool = False) -> None:
    """Terminates (SIGTERM) the executor's worker processes and shuts it down without waiting. Calls
    still in it fail with BrokenProcessPool, or are cancelled with `cancel_futures`."""
    processes = list((getattr(executor, "_processes", None) or {}).values())
    for process in processes:
        with contextlib.suppress(OSError, ValueError):  # already gone, or already closed
            process.terminate()
    executor.shutdown(wait=False, cancel_futures=cancel_futures)


def _failed(exc: BaseException) -> Future[Any]:
    """A future that has already failed with `exc`."""
    future: Future[Any] = Future()
    future.set_exception(exc)
    return future


# A worker's scheduling niceness: with every core busy, Linux gives a nice-10 process about a tenth of
# the share of the bot's own process (CFS weights 110 against 1024) and lets the bot preempt it when
# it wakes. Rendering runs whenever a core is free, but never delays the event loop's next callback.
WORKER_NICENESS = 10


def _yield_to_the_bot() -> None:
    with contextlib.suppress(OSError):  # not permitted in some sandboxes: then it runs at our priority
        os.nice(WORKER_NICENESS)


def _import_all(modules: tuple[str, ...]) -> None:
    for module in modules:
        importlib.import_module(module)
    time.sleep(0.05)  # holds this worker, so the other warm-up calls start the others


@dataclass(frozen=True)
class Pools:
    """The process's executors: `embed` for ONNX models, `cpu` for pure-Python work, `render` (processes)
    for turning answers into Telegram's HTML."""

    embed: WorkPool
    cpu: WorkPool
    render: ProcessPool

    @classmethod
    def for_machine(cls, embed_workers: int = 0, cpu_workers: int = 0, render_workers: int = 0) -> Pools:
        """0 means "size for this machine": one embedding worker and one render process per core, and at
        least two CPU workers (one slow job, a 300-page PDF, must not hold up a question's BM25 vector).
        Render processes start at their first use (`Pools.render.warm()`)."""
        cores = os.cpu_count() or 1
        return cls(
            embed=WorkPool("embed", embed_workers or cores),
            cpu=WorkPool("cpu", cpu_workers or max(2, cores)),
            # The forkserver imports what renders answers and builds their Bot API calls once.
            render=ProcessPool(
                "render", render_workers or cores, preload=("bot.render.answer", "bot.delivery.parts")
            ),
        )

    def shutdown(self) -> None:
        self.embed.shutdown()
        self.cpu.shutdown()
        self.render.shutdown()
