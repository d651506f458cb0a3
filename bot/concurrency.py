"""Named thread pools for CPU-bound work, so the event loop only ever waits on I/O.

Two pools, created and shut down by the composition root (`bot.app.build_services`):

- ``embed``: ONNX inference (e5). onnxruntime releases the GIL, so one single-threaded session run per
  core gives real parallelism: several questions embed at once instead of queueing behind each other.
- ``cpu``: pure-Python work (parsing, chunking, BM25 encoding, rendering, attribution). It holds the GIL,
  so it adds no throughput, but the event loop keeps answering Telegram and Redis while it runs
  (CPython hands the GIL back every `sys.getswitchinterval()`, 5 ms).

Any service reuses them the same way: ``await pools.cpu.run(fn, *args, timeout_s=2.0)``.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar, TypeVarTuple

T = TypeVar("T")
Ts = TypeVarTuple("Ts")


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


@dataclass(frozen=True)
class Pools:
    """The process's executors: `embed` for ONNX models, `cpu` for pure-Python work."""

    embed: WorkPool
    cpu: WorkPool

    @classmethod
    def for_machine(cls, embed_workers: int = 0, cpu_workers: int = 0) -> Pools:
        """0 means "size for this machine": one embedding worker per core, and at least two CPU workers
        (one slow job, a 300-page PDF, must not hold up a question's BM25 vector)."""
        cores = os.cpu_count() or 1
        return cls(
            embed=WorkPool("embed", embed_workers or cores),
            cpu=WorkPool("cpu", cpu_workers or max(2, cores)),
        )

    def shutdown(self) -> None:
        self.embed.shutdown()
        self.cpu.shutdown()
