"""Keeping the garbage collector's full passes off the event loop's back.

A full (generation 2) collection walks every container object the process holds and stops every thread
meanwhile. After start the bot holds ~430,000 of them (pydantic schemas, aiogram's types and routers,
tokenizer and model wrappers, the catalogues) and a full pass took 340-400 ms here: one such pass in the
middle of answering stalled the event loop 233 ms in `python -m bench.streaming`. Objects alive at start
live as long as the process, so they are moved to the collector's permanent generation (`gc.freeze`,
the CPython docs' advice for long-lived start-up state) and later passes walk only what came after.
"""

from __future__ import annotations

import contextlib
import gc
import logging
from collections.abc import Iterator

log = logging.getLogger(__name__)


@contextlib.contextmanager
def startup_heap_frozen() -> Iterator[int]:
    """Collects once, then freezes every object alive now for the block's duration; yields how many.

    On exit the objects go back to the oldest generation (`gc.unfreeze`), so a process that runs the bot
    more than once (the tests) collects what an earlier run left. Frozen objects are still freed by
    reference counting; only cycles among them wait for the unfreeze.
    """
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    log.info("froze %d start-up objects out of the garbage collector's full passes", frozen)
    try:
        yield frozen
    finally:
        gc.unfreeze()
