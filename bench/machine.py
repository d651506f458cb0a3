"""How fast this machine is right now: a shared VM's speed drifts from minute to minute."""

from __future__ import annotations

import time


def machine_speed_ms() -> float:
    """A fixed pure-Python loop's time on this core, best of 3: the same code measures slower on a slow
    moment of a shared VM (its speed drifts run to run), and this says how fast the machine was."""
    runs = []
    for _ in range(3):
        started = time.perf_counter()
        sum(i * i for i in range(2_000_000))
        runs.append((time.perf_counter() - started) * 1000)
    return min(runs)
