"""Load benchmark: the real bot process against the floor, at 2k / 20k / 50k chunks, in one run.

    HF_HUB_OFFLINE=1 .venv/bin/python -m bench.load [--quick] [--xquad ../shared/eval/xquad]

What runs:

- the bot: `python -m bot run` as a child process, with TELEGRAM_API_URL pointing at a fake Bot API
  server (the tests' own, real HTTP and Telegram's rules) and LLM_BASE_URL at a fake model server,
  both in this process; its own embedded Redis-free setup uses a redis-server started here;
- the floor: `python -m bench.floor_bot`, a minimal aiogram bot making one model call per question,
  against its own pair of fake servers, at the same loads;
- knowledge bases of 2k, 20k and 50k chunks made of XQuAD paragraphs (bench/load_kb.py);
- open-loop load: questions (XQuAD's, tagged with their number) at a fixed rate, spread round-robin
  over 1, 10 or 100 private chats, for a fixed time; then the step waits up to `--drain` seconds for
  every question's reply (an answer or a refusal): what has none by then is "late". The next step
  starts once the backlog is answered (or another `--drain` has passed); after a bot's last step, one
  more drain, and what never got a reply at all is "lost";
- the fake model answers at once ("instant"), or at a realistic pace ("paced": pass 1 0.3 s,
  pass 2 2.0 s; the floor's single call 2.3 s, so both spend the same time in the model).

It prints one table (and writes bench/results/load.json): answered/s, end-to-end p50/p95/p99, the floor's,
the overhead (bot minus floor, and their ratio), the first model request after the update (p50),
refusals, late and lost questions, notices, "typing" calls per question, the bot's peak RSS, and the bot's own
per-stage timings (p50, from its log). The bot runs with LLM_MAX_CONCURRENCY=32 (one vLLM GPU's batch),
rate limits lifted, everything else at its defaults.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench.load_kb import Paragraph, build, embed_paragraphs, read_xquad
from bench.load_servers import LoadTelegramServer, PacedModelServer
from bench.machine import machine_speed_ms
from bench.retrieval import DEFAULT_MODEL_PATH, DEFAULT_XQUAD, MODEL, REPO_ROOT
from bot.app import run_migrations
from bot.concurrency import WorkPool
from bot.config import Settings, load_settings
from bot.embed.embedder import Embedder
from bot.embed.sparse import SparseEmbedder
from bot.storage.redis_server import RedisServerProcess

BOT_TOKEN = "424242:LOAD-benchmark"
MODEL_SLOTS = 32
PACES: dict[str, tuple[float, float]] = {"instant": (0.0, 0.0), "paced": (0.3, 2.0)}
_STAGES = ("history", "embed", "search", "queue", "pass1", "pass2")
_ANSWERED = re.compile(r"answered in [\d.]+ s: (.*)$")
_STAGE = re.compile(r"(\w+)=([\d.]+)ms")


@dataclass(frozen=True)
class Step:
    pace: str
    chunks: int
    chats: int
    rate: float  # questions per second, all chats together
    seconds: float

    @property
    def load(self) -> tuple[str, int, float, float]:
        return (self.pace, self.chats, self.rate, self.seconds)


def grid(quick: bool) -> list[Step]:
    if quick:
        return [Step("instant", 2000, 10, 10, 5), Step("instant", 2000, 100, 30, 5)]
    short = 10.0
    return [
        Step("instant", 2000, 1, 1, 15),
        Step("instant", 2000, 10, 10, 15),
        Step("instant", 2000, 100, 10, 15),
        Step("instant", 2000, 100, 30, 15),
        # Past the 30 questions/s target: what the process sustains when offered more than it can answer.
        Step("instant", 2000, 100, 36, 15),
        Step("paced", 2000, 100, 10, 15),
        Step("instant", 20000, 1, 1, short),
        Step("instant", 20000, 100, 10, short),
        Step("instant", 50000, 1, 1, short),
        Step("instant", 50000, 100, 10, short),
    ]


@dataclass
class Result:
    step: Step
    asked: int
    answered: int
    refused: int
    late: int  # no reply (answer or refusal) within the drain time after the step's last question
    answered_per_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    first_model_p50_ms: float | None
    notices: int
    typing_per_question: float
    peak_rss_mb: float
    stages_p50_ms: dict[str, float] = field(default_factory=dict)
    # CPU time the child spent per question asked, all threads / its main (event-loop) thread alone:
    # what caps throughput, and less sensitive to other processes than wall time.
    cpu_ms_per_q: float = float("nan")
    loop_cpu_ms_per_q: float = float("nan")


class Child:
    """A child process (the bot or the floor) whose stderr is read line by line as it comes."""

    def __init__(self, name: str, args: Sequence[str], env: dict[str, str], cwd: Path) -> None:
        self.name = name
        self._args = args
        self._env = env
        self._cwd = cwd
        self.lines: list[tuple[float, str]] = []
        self._process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    async def start(self) -> None:
        self._process = await asyncio.create_subprocess_exec(
            *self._args,
            env=self._env,
            cwd=self._cwd,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self._process is not None
        assert self._process.stderr is not None
        async for raw in self._process.stderr:
            self.lines.append((time.monotonic(), raw.decode(errors="replace").rstrip()))

    @property
    def exited(self) -> bool:
        return self._process is not None and self._process.returncode is not None

    def rss_mb(self) -> float:
        try:
            status = Path(f"/proc/{self.pid}/status").read_text()
        except OSError:
            return 0.0
        found = re.search(r"VmRSS:\s+(\d+) kB", status)
        return int(found.group(1)) / 1024 if found else 0.0

    def cpu_s(self) -> tuple[float, float]:
        """(all threads, main thread) CPU seconds so far, from /proc (utime + stime)."""
        ticks = os.sysconf("SC_CLK_TCK")

        def read(path: str) -> float:
            try:
                fields = Path(path).read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                return float("nan")
            return (int(fields[11]) + int(fields[12])) / ticks  # utime, stime (fields 14, 15)

        return read(f"/proc/{self.pid}/stat"), read(f"/proc/{self.pid}/task/{self.pid}/stat")

    def save_log(self, path: Path) -> None:
        path.write_text("\n".join(text for _, text in self.lines) + "\n", encoding="utf-8")

    async def stop(self) -> None:
        if self._process is None:
            return
        if self._process.returncode is None:
            self._process.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(self._process.wait(), 30)
            except TimeoutError:
                self._process.kill()
                await self._process.wait()
        if self._reader is not None:
            await self._reader

    def tail(self, lines: int = 15) -> str:
        return "\n".join(text for _, text in self.lines[-lines:])


@contextlib.asynccontextmanager
async def servers(pace: str, floor: bool) -> AsyncIterator[tuple[LoadTelegramServer, PacedModelServer]]:
    telegram = LoadTelegramServer()
    model = PacedModelServer(telegram)
    model.pass1_s, model.pass2_s = PACES[pace]
    model.single_s = model.pass1_s + model.pass2_s if floor else 0.0
    async with telegram, model:
        yield telegram, model


def child_env(**values: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("QDRANT_", "REDIS_", "LLM_", "TELEGRAM_"))
    }
    env.update(PYTHONPATH=str(REPO_ROOT), HF_HUB_OFFLINE="1", BOT_TOKEN=BOT_TOKEN, **values)
    return env


async def wait_polling(telegram: LoadTelegramServer, child: Child, timeout_s: float) -> None:
    """Until the child polls; SystemExit with its last lines if it exits first or takes over `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not telegram.polled.is_set():
        if child.exited or time.monotonic() > deadline:
            how = "exited" if child.exited else f"did not start polling within {timeout_s:.0f} s"
            raise SystemExit(f"{child.name} {how}:\n{child.tail()}")
        await asyncio.sleep(0.2)


async def drive(
    step: Step, telegram: LoadTelegramServer, child: Child, questions: list[str], drain_s: float
) -> Result:
    """Sends the step's questions at its rate, waits for every reply (or `drain_s`), and measures."""
    # A step starts once the previous one's late questions are all answered (or `drain_s` more has
    # passed): otherwise an overloaded step would bill its backlog to the next one.
    await _replies(telegram, child, time.monotonic() + drain_s)
    offset = len(telegram.asked)
    total = int(step.rate * step.seconds)
    typing_before = telegram.typing_calls
    lines_before = len(child.lines)
    peak_rss = child.rss_mb()
    cpu_before = child.cpu_s()
    started = time.monotonic()
    for n in range(total):
        # Open loop: each question leaves on the clock, whatever happened to the ones before it.
        await asyncio.sleep(max(0.0, started + n / step.rate - time.monotonic()))
        number = offset + n
        telegram.ask(number, 1_000_000 + number % step.chats, questions[number % len(questions)])
        if n % 10 == 0:
            peak_rss = max(peak_rss, child.rss_mb())
    last_sent = time.monotonic()
    peak_rss = max(peak_rss, await _replies(telegram, child, last_sent + drain_s))
    await asyncio.sleep(0.3)  # late notices and "typing" of the last questions
    cpu_after = child.cpu_s()
    asked = [telegram.asked[offset + n] for n in range(total)]
    replied = [a for a in asked if a.replied is not None]
    answered = [a for a in replied if not a.refused]
    latencies = [(a.replied or 0.0) - a.pushed for a in answered]
    finished = max((a.replied or 0.0) for a in answered) if answered else last_sent
    first_model = [a.first_model_request - a.pushed for a in asked if a.first_model_request is not None]
    return Result(
        step=step,
        asked=total,
        answered=len(answered),
        refused=len(replied) - len(answered),
        late=total - len(replied),
        answered_per_s=len(answered) / max(1e-9, finished - started),
        p50_ms=_percentile(latencies, 50),
        p95_ms=_percentile(latencies, 95),
        p99_ms=_percentile(latencies, 99),
        first_model_p50_ms=_percentile(first_model, 50) if first_model else None,
        notices=sum(1 for a in asked if a.notice is not None),
        typing_per_question=(telegram.typing_calls - typing_before) / max(1, total),
        peak_rss_mb=peak_rss,
        stages_p50_ms=_stages([text for _, text in child.lines[lines_before:]]),
        cpu_ms_per_q=(cpu_after[0] - cpu_before[0]) * 1000 / max(1, total),
        loop_cpu_ms_per_q=(cpu_after[1] - cpu_before[1]) * 1000 / max(1, total),
    )


async def _replies(telegram: LoadTelegramServer, child: Child, deadline: float) -> float:
    """Waits until every question has its reply, or `deadline`; returns the child's peak RSS meanwhile."""
    peak = child.rss_mb()
    while telegram.pending() and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        peak = max(peak, child.rss_mb())
    return peak


def _percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(values, q)) * 1000 if values else float("nan")


def _stages(lines: Sequence[str]) -> dict[str, float]:
    seen: dict[str, list[float]] = {stage: [] for stage in _STAGES}
    for line in lines:
        found = _ANSWERED.search(line)
        if found is None:
            continue
        for stage, ms in _STAGE.findall(found.group(1)):
            seen.setdefault(stage, []).append(float(ms))
    return {stage: float(np.median(values)) for stage, values in seen.items() if values}


async def run_floor(steps: list[Step], questions: list[str], drain_s: float, work: Path) -> dict[Any, Result]:
    results: dict[Any, Result] = {}
    for pace in sorted({s.pace for s in steps}):
        async with servers(pace, floor=True) as (telegram, model):
            env = child_env(TELEGRAM_API_URL=telegram.base_url, LLM_BASE_URL=model.base_url)
            floor = Child("floor", [sys.executable, "-m", "bench.floor_bot"], env, work)
            await floor.start()
            try:
                await wait_polling(telegram, floor, 60)
                for step in steps:
                    if step.pace == pace and step.load not in results:
                        results[step.load] = await drive(step, telegram, floor, questions, drain_s)
                        _progress("floor", results[step.load])
            finally:
                await floor.stop()
    return results


async def run_bot(
    steps: list[Step],
    questions: list[str],
    drain_s: float,
    work: Path,
    redis_url: str,
    kb_dirs: dict[int, Path],
    model_path: Path | None,
) -> tuple[list[Result], dict[int, float], dict[tuple[int, str], int]]:
    results: list[Result] = []
    idle_rss: dict[int, float] = {}
    lost: dict[tuple[int, str], int] = {}
    for chunks in sorted({s.chunks for s in steps}):
        for pace in sorted({s.pace for s in steps if s.chunks == chunks}):
            async with servers(pace, floor=False) as (telegram, model):
                env = child_env(
                    TELEGRAM_API_URL=telegram.base_url,
                    LLM_BASE_URL=model.base_url,
                    LLM_API_KEY="bench",
                    REDIS_URL=redis_url,
                    QDRANT_PATH=str(kb_dirs[chunks]),
                    EMBEDDING_MODEL=MODEL,
                    ADMIN_IDS="1",
                    USER_QUESTION_RATE="1000000/minute",
                    CHAT_QUESTION_RATE="1000000/minute",
                    LLM_MAX_CONCURRENCY=str(MODEL_SLOTS),
                    LOG_LEVEL="INFO",
                    **({"EMBEDDING_MODEL_PATH": str(model_path)} if model_path else {}),
                )
                bot = Child(f"bot ({chunks} chunks)", [sys.executable, "-m", "bot", "run"], env, work)
                await bot.start()
                try:
                    await wait_polling(telegram, bot, 600)
                    await asyncio.sleep(1.0)
                    idle_rss[chunks] = bot.rss_mb()
                    for step in steps:
                        if step.chunks == chunks and step.pace == pace:
                            results.append(await drive(step, telegram, bot, questions, drain_s))
                            _progress("bot", results[-1])
                    # Lost means never answered: whatever is still unreplied after one more drain.
                    await _replies(telegram, bot, time.monotonic() + drain_s)
                    lost[(chunks, pace)] = telegram.pending()
                finally:
                    await bot.stop()
                    bot.save_log(_results_dir() / f"load-bot-{chunks}-{pace}.log")
    return results, idle_rss, lost


def _progress(who: str, r: Result) -> None:
    s = r.step
    print(
        f"  {who:5} {s.pace:7} {s.chunks:>6} chunks {s.chats:>3} chats {s.rate:>4.0f} q/s: "
        f"{r.answered}/{r.asked} answered, {r.refused} refused, {r.late} late, p50 {r.p50_ms:.0f} ms, "
        f"p99 {r.p99_ms:.0f} ms",
        file=sys.stderr,
        flush=True,
    )


def table(
    results: list[Result],
    floor: dict[Any, Result],
    idle_rss: dict[int, float],
    lost: dict[tuple[int, str], int],
) -> str:
    head = (
        "| model | chunks | chats | q/s | asked | answered/s | refused | late "
        "| bot p50 / p95 / p99 ms | floor p50 / p99 ms | overhead p50 / p99 ms | × floor p50 "
        "| 1st model request p50 ms | notices | typing / q | peak RSS MB | bot CPU ms / q: all / loop "
        "| stages p50 ms: history / embed / search / queue / pass1 / pass2 |"
    )
    rows = [head, "|" + "|".join(["---"] * 18) + "|"]
    for r in results:
        s, f = r.step, floor[r.step.load]
        stages = " / ".join(f"{r.stages_p50_ms[k]:.1f}" if k in r.stages_p50_ms else "–" for k in _STAGES)
        first = f"{r.first_model_p50_ms:.0f}" if r.first_model_p50_ms is not None else "–"
        rows.append(
            f"| {s.pace} | {s.chunks:,} | {s.chats} | {s.rate:g} | {r.asked} | {r.answered_per_s:.1f} "
            f"| {r.refused} | {r.late} | {r.p50_ms:,.0f} / {r.p95_ms:,.0f} / {r.p99_ms:,.0f} "
            f"| {f.p50_ms:,.0f} / {f.p99_ms:,.0f} | {r.p50_ms - f.p50_ms:,.0f} / {r.p99_ms - f.p99_ms:,.0f} "
            f"| {r.p50_ms / f.p50_ms:.1f} | {first} | {r.notices} | {r.typing_per_question:.2f} "
            f"| {r.peak_rss_mb:.0f} | {r.cpu_ms_per_q:.1f} / {r.loop_cpu_ms_per_q:.1f} | {stages} |"
        )
    memory = ", ".join(f"{chunks:,} chunks {mb:.0f} MB" for chunks, mb in sorted(idle_rss.items()))
    never = ", ".join(f"{chunks:,} chunks {pace}: {n}" for (chunks, pace), n in sorted(lost.items()))
    return "\n".join(
        [*rows, "", f"Bot RSS after start, idle: {memory}.", f"Never replied (lost) per bot run: {never}."]
    )


async def build_bases(
    kb_dirs: dict[int, Path], pairs: list[tuple[str, str]], model_path: Path | None, redis_url: str
) -> dict[int, float]:
    """Each base starts as a copy of the next smaller one, so only the difference is written."""
    pool = WorkPool("embed", os.cpu_count() or 1)
    embedder = Embedder(MODEL, model_path, threads=1).on(pool)
    sparse = SparseEmbedder()
    paragraphs: list[Paragraph] = []
    build_s: dict[int, float] = {}
    previous: tuple[int, Path] | None = None
    try:
        for chunks, folder in sorted(kb_dirs.items()):
            if (folder / "ready").exists():
                # A base kept from an earlier run is brought to this code's schema, as `migrate` would.
                await run_migrations(_base_settings(folder, redis_url, model_path), embedder)
                previous = (chunks, folder)
                continue
            if not paragraphs:
                started = time.perf_counter()
                paragraphs = await embed_paragraphs(pairs, embedder, sparse)
                _note(f"embedded {len(pairs)} paragraphs in {time.perf_counter() - started:.0f} s")
            shutil.rmtree(folder, ignore_errors=True)
            already = 0
            if previous is not None:
                shutil.copytree(previous[1], folder)
                (folder / "ready").unlink()
                already = previous[0]
            settings = _base_settings(folder, redis_url, model_path)
            build_s[chunks] = await build(settings, chunks, paragraphs, embedder, sparse, already=already)
            (folder / "ready").touch()
            _note(f"built {chunks:,} chunks in {build_s[chunks]:.0f} s")
            previous = (chunks, folder)
    finally:
        embedder.close()
        pool.shutdown()
    return build_s


def _base_settings(folder: Path, redis_url: str, model_path: Path | None) -> Settings:
    return load_settings(
        qdrant_path=folder, redis_url=redis_url, embedding_model=MODEL, embedding_model_path=model_path
    )


def _results_dir() -> Path:
    folder = REPO_ROOT / "bench" / "results"
    folder.mkdir(exist_ok=True)
    return folder


def _scratch_root() -> Path | None:
    shm = Path("/dev/shm")
    return shm if shm.is_dir() else None


def _parse_step(text: str) -> Step:
    pace, chunks, chats, rate, seconds = text.split(",")
    if pace not in PACES:
        raise SystemExit(f"--step: the pace is one of {', '.join(PACES)}, not {pace!r}")
    return Step(pace, int(chunks), int(chats), float(rate), float(seconds))


def _note(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


async def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.split("\n\n")[0])
    parser.add_argument("--xquad", type=Path, default=DEFAULT_XQUAD)
    parser.add_argument(
        "--model-path", type=Path, default=DEFAULT_MODEL_PATH if DEFAULT_MODEL_PATH.is_dir() else None
    )
    parser.add_argument("--quick", action="store_true", help="two short steps at 2k chunks (a smoke run)")
    parser.add_argument("--drain", type=float, default=60.0, help="seconds a step waits for late replies")
    parser.add_argument(
        "--kb-cache", type=Path, default=None, help="keep/reuse the built knowledge bases here"
    )
    parser.add_argument(
        "--sizes", default="", help="only these knowledge-base sizes, e.g. 2000,20000 (default: all)"
    )
    parser.add_argument(
        "--step",
        action="append",
        default=[],
        metavar="PACE,CHUNKS,CHATS,RATE,SECONDS",
        help="run only this step (repeatable), e.g. instant,2000,100,30,15",
    )
    args = parser.parse_args(argv)
    sizes = {int(size) for size in args.sizes.split(",") if size.strip()}
    steps = [step for step in grid(args.quick) if not sizes or step.chunks in sizes]
    if args.step:
        steps = [_parse_step(text) for text in args.step]
    load_avg = os.getloadavg()
    speed_before = machine_speed_ms()
    print(
        f"load average before: {load_avg[0]:.2f} {load_avg[1]:.2f}; cores: {os.cpu_count()}; "
        f"reference loop {speed_before:.0f} ms",
        file=sys.stderr,
    )

    # On tmpfs when there is one: the embedded stores fsync every write, and a shared disk's fsync
    # would make building the bases take most of the run.
    with tempfile.TemporaryDirectory(prefix="kb-load-", dir=_scratch_root()) as tmp:
        work = Path(tmp)
        kb_root = args.kb_cache or work / "kb"
        pairs, questions = read_xquad(args.xquad)
        redis = RedisServerProcess(work / "redis", persist=False)
        redis_url = await redis.start()
        try:
            kb_dirs = {chunks: kb_root / str(chunks) for chunks in sorted({s.chunks for s in steps})}
            build_s = await build_bases(kb_dirs, pairs, args.model_path, redis_url)
            floor = await run_floor(steps, questions, args.drain, work)
            results, idle_rss, lost = await run_bot(
                steps, questions, args.drain, work, redis_url, kb_dirs, args.model_path
            )
        finally:
            await redis.stop()

    load_after = os.getloadavg()
    out = table(results, floor, idle_rss, lost)
    print(out)
    print(
        f"\nload average before {load_avg[0]:.2f}, after {load_after[0]:.2f} (1 min); "
        f"{os.cpu_count()} cores; reference loop (2M squares summed, best of 3) "
        f"{speed_before:.0f} ms before, {machine_speed_ms():.0f} after"
    )
    (_results_dir() / "load.json").write_text(
        json.dumps(
            {
                "results": [asdict(r) for r in results],
                "floor": [asdict(r) for r in floor.values()],
                "idle_rss_mb": idle_rss,
                "lost": {f"{chunks}-{pace}": n for (chunks, pace), n in lost.items()},
                "kb_build_s": build_s,
                "load_average": [load_avg, load_after],
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
