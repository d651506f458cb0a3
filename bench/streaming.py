"""Streaming and rendering costs (issue 10): `python -m bench.streaming`.

1. First visible text: 20 private chats get an answer from a fake model at a realistic pace (0.3 s to
   the first token, then 40 tokens/s); per chat, the time from the model's first token until Telegram
   (the project's fake Bot API server, over real HTTP) accepted the first draft.
2. The longest event-loop stall meanwhile, on the loop the bot runs by default (uvloop) and on the
   stock asyncio loop (EVENT_LOOP=asyncio): a ticker that wants to wake every 5 ms records how late it
   wakes; the worst lateness is the longest time anything held the loop (including other processes
   on a loaded machine). Beside it, the longest CPU time one loop callback took (thread CPU time of
   each `Handle._run`): the bot's own share of a stall, whatever the load.
3. Render time against input size on adversarial Markdown (brackets, emphasis runs, tags, links).

The fake Bot API server runs in a process of its own, as Telegram is a server elsewhere: its strict
checks of every draft (an HTML parse per request) are not the bot's work and must not count against
the bot's event loop.

Prints three tables. Numbers depend on the machine's load: the load average is printed beside them.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import statistics
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection

import uvloop
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from bench.machine import machine_speed_ms
from bot.concurrency import Pools
from bot.delivery.service import AnswerDelivery, DeliveryConfig
from bot.delivery.target import Target
from bot.heap import startup_heap_frozen
from bot.render.answer import render_answer
from tests.support.telegram_server import FakeTelegramServer

CHATS = 20
FIRST_TOKEN_S = 0.3
TOKENS_PER_S = 40.0
ANSWER = (
    "**Ответ.** Покупатель может вернуть товар надлежащего качества в течение 14 дней после покупки. "
    "Для возврата нужен чек и паспорт покупателя.\n\n| товар | срок |\n|---|---|\n| обычный | 14 дней |\n\n"
) * 6


async def _stall_watch(stop: asyncio.Event, stalls: list[float]) -> None:
    tick = 0.005
    while not stop.is_set():
        started = time.perf_counter()
        await asyncio.sleep(tick)
        stalls.append(time.perf_counter() - started - tick)


@contextlib.contextmanager
def _loop_step_cpu(steps: list[float]) -> Iterator[None]:
    """Records the CPU time (s) of every callback the event loop runs meanwhile (a benchmark-only patch)."""
    original = asyncio.events.Handle._run

    def timed(handle: asyncio.events.Handle) -> None:
        started = time.thread_time()
        original(handle)
        steps.append(time.thread_time() - started)

    asyncio.events.Handle._run = timed  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        asyncio.events.Handle._run = original  # type: ignore[method-assign]


def _serve_telegram(conn: Connection) -> None:
    """The child process: serves the fake Bot API until told to stop, then reports what it accepted."""

    async def serve() -> None:
        async with FakeTelegramServer() as tg:
            conn.send(tg.base_url)
            await asyncio.get_running_loop().run_in_executor(None, conn.recv)
            methods = [r.method for r in tg.requests]
            conn.send({m: methods.count(m) for m in set(methods)})

    asyncio.run(serve())


@contextlib.asynccontextmanager
async def _telegram_elsewhere() -> AsyncIterator[tuple[str, dict[str, int]]]:
    """Yields the base URL of a fake Bot API server in another process, and (filled at exit) the count
    of requests it accepted per method."""
    ours, theirs = multiprocessing.get_context("spawn").Pipe()
    child = multiprocessing.get_context("spawn").Process(target=_serve_telegram, args=(theirs,), daemon=True)
    child.start()
    loop = asyncio.get_running_loop()
    accepted: dict[str, int] = {}
    try:
        yield await loop.run_in_executor(None, ours.recv), accepted
        ours.send("stop")
        accepted.update(await loop.run_in_executor(None, ours.recv))
    finally:
        child.join(10)
        if child.is_alive():
            child.kill()


async def _one_chat(bot: Bot, delivery: AnswerDelivery, chat_id: int) -> float:
    session = delivery.session(bot, Target(chat_id=chat_id, user_id=chat_id, reply_to=None))
    await asyncio.sleep(FIRST_TOKEN_S)
    first_token = time.monotonic()
    tokens = [ANSWER[i : i + 4] for i in range(0, len(ANSWER), 4)]
    text = ""
    shown: float | None = None
    for token in tokens:
        text += token
        await session.on_delta(text)
        if shown is None and session.first_shown_at is not None:
            shown = session.first_shown_at
        await asyncio.sleep(1 / TOKENS_PER_S)
    await session.close()
    shown = shown or session.first_shown_at or time.monotonic()
    return shown - first_token


@dataclass
class Streamed:
    """One run of the 20 streaming chats: what each chat waited for its first draft, and the loop."""

    first_shown_ms: list[float]
    stalls_ms: list[float]
    idle_stalls_ms: list[float]
    callback_cpu_ms: list[float]  # empty on uvloop, whose handles cannot be timed from Python
    accepted: dict[str, int]


async def stream_chats(time_callbacks: bool) -> Streamed:
    """Streams `CHATS` answers at once through `AnswerDelivery`, timing the loop, then the idle loop."""
    async with _telegram_elsewhere() as (base_url, accepted):
        bot = Bot("42:bench", session=AiohttpSession(api=TelegramAPIServer.from_base(base_url)))
        # As the bot runs it: drafts render in the process's render processes (bot.concurrency, one per
        # core), started before the measure.
        pools = Pools.for_machine()
        await pools.render.warm()
        delivery = AnswerDelivery(DeliveryConfig(stream_interval_s=0.4), render=pools.render)
        # The bot's HTTP session (its TLS context: ~50 ms of CPU) is made at startup by getMe, as the
        # polling loop does, not in the middle of the measured answers.
        await bot.get_me()
        stop = asyncio.Event()
        stalls: list[float] = []
        steps: list[float] = []
        with _loop_step_cpu(steps) if time_callbacks else contextlib.nullcontext():
            watcher = asyncio.create_task(_stall_watch(stop, stalls))
            started = time.perf_counter()
            latencies = await asyncio.gather(*(_one_chat(bot, delivery, 5000 + i) for i in range(CHATS)))
            streamed_s = time.perf_counter() - started
            stop.set()
            await watcher
        await bot.session.close()
        pools.shutdown()
        # The same ticker on the idle loop for as long: what this machine alone does to a 5 ms sleep (a
        # shared VM's hiccups), to read the streaming row against.
        idle_stop = asyncio.Event()
        idle: list[float] = []
        idle_watcher = asyncio.create_task(_stall_watch(idle_stop, idle))
        await asyncio.sleep(streamed_s)
        idle_stop.set()
        await idle_watcher
    return Streamed(
        first_shown_ms=sorted(x * 1000 for x in latencies),
        stalls_ms=sorted(x * 1000 for x in stalls),
        idle_stalls_ms=sorted(x * 1000 for x in idle),
        callback_cpu_ms=sorted(x * 1000 for x in steps),
        accepted=accepted,
    )


def _row(label: str, ms: list[float], digits: int = 1) -> str:
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    return f"| {label} | {statistics.median(ms):.{digits}f} | {p95:.{digits}f} | {ms[-1]:.{digits}f} |"


def streaming_table(runs: dict[str, Streamed]) -> None:
    print(f"{CHATS} chats streaming at once, {FIRST_TOKEN_S} s to first token, {TOKENS_PER_S:.0f} tokens/s")
    for loop, run in runs.items():
        took = ", ".join(f"{n} {method}" for method, n in sorted(run.accepted.items()))
        print(f"(on {loop}, the fake Bot API, in a process of its own, accepted {took})")
    print("| measure | p50 ms | p95 ms | max ms |")
    print("|---|---:|---:|---:|")
    for loop, run in runs.items():
        print(_row(f"first visible text after the model's first token, {loop}", run.first_shown_ms, 0))
        for label, worst in (("", run.stalls_ms), (", the idle loop alone", run.idle_stalls_ms)):
            over = sum(1 for w in worst if w > 20)
            print(_row(f"event-loop stall, {loop}{label}; {over} of {len(worst)} ticks over 20 ms", worst))
        if run.callback_cpu_ms:
            print(_row(f"one loop callback's CPU time, {loop}", run.callback_cpu_ms, 2))


def render_table() -> None:
    shapes: dict[str, Callable[[int], str]] = {
        "brackets [i, j]": lambda n: ", ".join(f"[{i}, {i + 1}]" for i in range(n)),
        "stars *[i* j]": lambda n: ", ".join(f"*[{i}* {i + 1}]" for i in range(n)),
        "emphasis runs **_": lambda n: "**_" * n + "x" + "_**" * n,
        "literal <tags>": lambda n: " ".join(f"<span{i}> текст </li>" for i in range(n)),
        "links [a](b_(c)": lambda n: " ".join(f"[a{i}](http://x.example/a_(b{i})" for i in range(n)),
        # Past 500 blocks these are cut between rows or items, each row measured: structure, not markup.
        "table rows": lambda n: "| a | b |\n|---|---|\n" + "\n".join(f"| {i} | x{i} |" for i in range(n)),
        "list items": lambda n: "\n".join(f"- item {i} with **bold** text" for i in range(n)),
    }
    sizes = (1_000, 10_000, 100_000)
    # Beside wall time, the thread's CPU time at 100 KB: the renderer's own cost, whatever the load.
    print(
        "\n| adversarial input | "
        + " | ".join(f"{s // 1000} KB, ms" for s in sizes)
        + " | 100 KB / 10 KB | 100 KB, CPU ms |"
    )
    print("|---|" + "---:|" * (len(sizes) + 2))
    for name, make in shapes.items():
        row = []
        cpu: list[float] = []
        for size in sizes:
            n = 1
            while len(make(n)) < size:
                n *= 2
            text = make(n)[:size]
            runs = []
            cpu = []
            for _ in range(3):
                started, cpu_started = time.perf_counter(), time.thread_time()
                render_answer(text)
                runs.append((time.perf_counter() - started) * 1000)
                cpu.append((time.thread_time() - cpu_started) * 1000)
            row.append(min(runs))
        print(
            f"| {name} | "
            + " | ".join(f"{v:.1f}" for v in row)
            + f" | {row[2] / row[1]:.1f}× | {min(cpu):.1f} |"
        )


def main() -> None:
    with startup_heap_frozen():  # as bot.runner does once the bot is up
        # The loop the bot runs by default (EVENT_LOOP=uvloop), then the stock loop (EVENT_LOOP=asyncio),
        # whose callbacks can be timed one by one.
        runs = {"uvloop": uvloop.run(stream_chats(time_callbacks=False))}
        runs["asyncio"] = asyncio.run(stream_chats(time_callbacks=True))
        streaming_table(runs)
        render_table()
    print(
        f"(load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; reference loop "
        f"{machine_speed_ms():.0f} ms, see bench/machine.py)"
    )


if __name__ == "__main__":
    main()
