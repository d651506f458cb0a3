"""Streaming and rendering costs (issue 10): `python -m bench.streaming`.

1. First visible text: 20 private chats get an answer from a fake model at a realistic pace (0.3 s to
   the first token, then 40 tokens/s); per chat, the time from the model's first token until Telegram
   (the project's fake Bot API server, over real HTTP) accepted the first draft.
2. The longest event-loop stall meanwhile: a ticker that wants to wake every 5 ms records how late it
   wakes; the worst lateness is the longest time anything held the loop (including other processes
   on a loaded machine). Beside it, the longest CPU time one loop callback took (thread CPU time of
   each `Handle._run`): the bot's own share of a stall, whatever the load.
3. Render time against input size on adversarial Markdown (brackets, emphasis runs, tags, links).

Prints three tables. Numbers depend on the machine's load: the load average is printed beside them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import time
from collections.abc import Callable, Iterator

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


async def streaming_table() -> None:
    async with FakeTelegramServer() as tg:
        bot = Bot("42:bench", session=AiohttpSession(api=TelegramAPIServer.from_base(tg.base_url)))
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
        with _loop_step_cpu(steps):
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
    ms = sorted(x * 1000 for x in latencies)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    print(f"{CHATS} chats streaming at once, {FIRST_TOKEN_S} s to first token, {TOKENS_PER_S:.0f} tokens/s")
    print("| measure | p50 ms | p95 ms | max ms |")
    print("|---|---:|---:|---:|")
    first = "first visible text after the model's first token"
    print(f"| {first} | {statistics.median(ms):.0f} | {p95:.0f} | {ms[-1]:.0f} |")
    for label, samples in (("", stalls), (", the idle loop alone", idle)):
        worst = sorted(s * 1000 for s in samples)
        over = sum(1 for w in worst if w > 20)
        p95_stall = worst[round(0.95 * (len(worst) - 1))]
        print(
            f"| event-loop stall (lateness of a 5 ms ticker){label}; {over} of {len(worst)} over 20 ms "
            f"| {statistics.median(worst):.1f} | {p95_stall:.1f} | {worst[-1]:.1f} |"
        )
    cpu = sorted(s * 1000 for s in steps)
    print(
        f"| longest loop callback, CPU time | {statistics.median(cpu):.2f} | "
        f"{cpu[round(0.95 * (len(cpu) - 1))]:.2f} | {cpu[-1]:.1f} |"
    )


def render_table() -> None:
    shapes: dict[str, Callable[[int], str]] = {
        "brackets [i, j]": lambda n: ", ".join(f"[{i}, {i + 1}]" for i in range(n)),
        "stars *[i* j]": lambda n: ", ".join(f"*[{i}* {i + 1}]" for i in range(n)),
        "emphasis runs **_": lambda n: "**_" * n + "x" + "_**" * n,
        "literal <tags>": lambda n: " ".join(f"<span{i}> текст </li>" for i in range(n)),
        "links [a](b_(c)": lambda n: " ".join(f"[a{i}](http://x.example/a_(b{i})" for i in range(n)),
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
        asyncio.run(streaming_table())
        render_table()
    print(
        f"(load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; reference loop "
        f"{machine_speed_ms():.0f} ms, see bench/machine.py)"
    )


if __name__ == "__main__":
    main()
