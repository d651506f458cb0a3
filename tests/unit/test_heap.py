"""The start-up heap is kept out of the garbage collector's full passes while the bot runs."""

from __future__ import annotations

import gc

from bot.heap import startup_heap_frozen


class _Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the collector can free it


def test_the_start_up_heap_is_frozen_while_serving_and_handed_back_after() -> None:
    alive_at_start = [_Node() for _ in range(1_000)]
    with startup_heap_frozen() as frozen:
        assert frozen >= len(alive_at_start)
        assert gc.get_freeze_count() >= len(alive_at_start)
        # What the bot makes while serving is still collected as usual.
        created_while_serving = [_Node() for _ in range(1_000)]
        del created_while_serving
        assert gc.collect() >= 1_000
    assert gc.get_freeze_count() == 0
    del alive_at_start
    assert gc.collect() >= 1_000  # a process that runs the bot again (the tests) gets them back
