"""How long a Qdrant Edge query stops Python: the event loop's stall beside the store's searches.

    HF_HUB_OFFLINE=1 .venv/bin/python -m bench.edge_stall --base /dev/shm/kb/20000 [--queries 200]

Opens a knowledge base made by `bench.load` (`--kb-cache`), asks real XQuAD questions the way the bot
does (a dense and a sparse search, scope filter "global + one chat", both on the store's own
executor), and beside them measures two things:

- the event loop's stall: a ticker sleeps 1 ms and records how late it wakes (an idle loop wakes
  within a fraction of a millisecond; a loop that waits for the GIL wakes when it is handed back);
- a plain Python thread counting in a loop while each query runs alone: if the query released the GIL
  the counter would advance by millions during it; if it holds the GIL the counter stands still.

Prints one table: query p50/p99, the loop's lateness p50/p99/max during the searches and idle, and
the counter's progress per millisecond of query against a free-running thread.
"""

from __future__ import annotations

import argparse
import asyncio
import threading
import time
from pathlib import Path

import numpy as np
import qdrant_edge as edge

from bench.load_kb import read_xquad
from bench.retrieval import DEFAULT_MODEL_PATH, DEFAULT_XQUAD, MODEL
from bot.domain import SearchQuery, chat_scope
from bot.embed.embedder import Embedder
from bot.embed.sparse import SparseEmbedder
from bot.storage.chunks.edge import EdgeCollection
from bot.storage.chunks.store import QdrantChunkStore


async def _ticker(lateness: list[float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        started = time.perf_counter()
        await asyncio.sleep(0.001)
        lateness.append(time.perf_counter() - started - 0.001)


def _ms(values: list[float], q: float) -> str:
    return f"{float(np.percentile(values, q)) * 1000:.1f}" if values else "–"


class _Counter(threading.Thread):
    """Counts as fast as Python can; `count` is read from the other thread."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.count = 0
        self.running = True

    def run(self) -> None:
        while self.running:
            self.count += 1


def _gil_probe(shard: edge.EdgeShard, using: str, vectors: list[list[float]]) -> tuple[list[float], float]:
    """Counts of a spinning thread per ms of each raw query (run on another thread), and per ms free."""
    counter = _Counter()
    counter.start()
    time.sleep(0.2)
    before, started = counter.count, time.perf_counter()
    time.sleep(0.2)
    free_rate = (counter.count - before) / ((time.perf_counter() - started) * 1000)
    rates: list[float] = []

    def query(vector: list[float]) -> None:
        request = edge.QueryRequest(
            limit=20, query=edge.Query.Nearest(vector, using=using), with_payload=True
        )
        first, began = counter.count, time.perf_counter()
        shard.query(request)
        rates.append((counter.count - first) / max(1e-6, (time.perf_counter() - began) * 1000))

    for vector in vectors:
        worker = threading.Thread(target=query, args=(vector,))
        worker.start()
        worker.join()
    counter.running = False
    counter.join()
    return rates, free_rate


async def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.edge_stall")
    parser.add_argument("--base", type=Path, action="append", required=True, help="a bench.load base folder")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--xquad", type=Path, default=DEFAULT_XQUAD)
    args = parser.parse_args()
    _, questions = read_xquad(args.xquad)
    questions = questions[: args.queries]
    embedder = Embedder(MODEL, DEFAULT_MODEL_PATH if DEFAULT_MODEL_PATH.is_dir() else None)
    sparse = SparseEmbedder()
    dense = [await embedder.embed_query(q) for q in questions]
    lexical = [sparse.embed_query(q) for q in questions]
    embedder.close()
    scopes = ["global", chat_scope(1_000_001)]
    print(
        "| chunks | queries | query p50 / p99 ms | loop late during searches p50 / p99 / max ms "
        "| loop late idle p99 ms | other thread's counts per query ms (free-running per ms) |"
    )
    print("|---|---|---|---|---|---|")
    for base in args.base:
        backend = await EdgeCollection.open(base / "edge", "kb_chunks", embedder.vector_name)
        store = QdrantChunkStore(backend)
        await store.search(SearchQuery(dense=dense[0]), scopes, 20)  # warm the page cache
        idle: list[float] = []
        stop = asyncio.Event()
        ticker = asyncio.create_task(_ticker(idle, stop))
        await asyncio.sleep(2.0)
        stop.set()
        await ticker
        busy: list[float] = []
        took: list[float] = []
        stop = asyncio.Event()
        ticker = asyncio.create_task(_ticker(busy, stop))
        for d, s in zip(dense, lexical, strict=True):
            started = time.perf_counter()
            await asyncio.gather(
                store.search(SearchQuery(dense=d), scopes, 20),
                store.search(SearchQuery(sparse=s), scopes, 20),
            )
            took.append(time.perf_counter() - started)
        stop.set()
        await ticker
        rates, free_rate = _gil_probe(backend._require(), embedder.vector_name, dense[:50])
        await backend.close()
        print(
            f"| {base.name} | {len(took)} | {_ms(took, 50)} / {_ms(took, 99)} "
            f"| {_ms(busy, 50)} / {_ms(busy, 99)} / {_ms(busy, 100)} | {_ms(idle, 99)} "
            f"| {float(np.median(rates)):.0f} ({free_rate:.0f}) |"
        )


if __name__ == "__main__":
    asyncio.run(main())
