"""`python -m bot run|worker` as real child processes: started against the test servers, probed over their
own HTTP server, stopped with SIGTERM, and every line they logged kept for the test to read."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import aiohttp

from bot.app import run_migrations
from bot.config import load_settings
from bot.embed.embedder import Embedder
from tests.conftest import ADMIN_ID, BOT_TOKEN, MODEL_NAME, REPO_ROOT, free_port, model_path

LLM_API_KEY = "sk-test-llm-key-0123456789abcdef"
WEBHOOK_SECRET = "webhook-secret-0123456789abcdef"


class BotProcess:
    """One bot (or worker) process with its own embedded Qdrant folder (migrated before it starts)."""

    def __init__(self, workdir: Path, command: str = "run", **env: str) -> None:
        self.workdir = workdir
        self.command = command
        self.port = free_port()
        path = model_path()
        self.env: dict[str, str] = {
            "BOT_TOKEN": BOT_TOKEN,
            "ADMIN_IDS": str(ADMIN_ID),
            "QDRANT_PATH": str(workdir / "qdrant"),
            "LLM_API_KEY": LLM_API_KEY,
            "EMBEDDING_MODEL": MODEL_NAME,
            "EMBEDDING_MODEL_PATH": str(path) if path else "",
            "HTTP_PORT": str(self.port),
            # Each test process is its own replica (on one host, the host name would be shared).
            "REPLICA_NAME": workdir.name,
            "LOG_FORMAT": "json",
            "LOG_LEVEL": "DEBUG",  # the most lines, the most chances to leak a secret
            "HF_HUB_OFFLINE": "1",
            "SHUTDOWN_GRACE_S": "30",
            **env,
        }
        self.log_path = workdir / f"{command}.log"
        self.returncode: int | None = None
        self._process: asyncio.subprocess.Process | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, embedder: Embedder, *, migrate: bool = True) -> None:
        """Starts the process and waits until it is healthy; `migrate=False` leaves the data folder
        empty, as on a fresh machine (the process must create the schema itself)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        if migrate:
            settings = load_settings(
                qdrant_path=self.workdir / "qdrant",
                embedding_model=MODEL_NAME,
                embedding_model_path=model_path(),
            )
            await run_migrations(settings, embedder)
        with self.log_path.open("wb") as log:
            self._process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                self.command,
                cwd=self.workdir,
                env={**os.environ, "PYTHONPATH": str(REPO_ROOT), **self.env},
                stdout=log,
                stderr=log,
            )
        await self.wait_healthy()

    async def wait_healthy(self, timeout_s: float = 300.0) -> None:
        """Until /healthz answers; the process may still be loading its model before that (a minute or more
        on a busy 2-core machine)."""
        assert self._process is not None
        deadline = asyncio.get_running_loop().time() + timeout_s
        async with aiohttp.ClientSession() as http:
            while True:
                if self._process.returncode is not None:
                    raise AssertionError(f"{self.command} exited at start:\n{self.log_text()}")
                try:
                    async with http.get(self.base_url + "/healthz") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                if asyncio.get_running_loop().time() > deadline:
                    raise AssertionError(f"{self.command} never became healthy:\n{self.log_text()}")
                await asyncio.sleep(0.3)

    async def get(self, path: str) -> tuple[int, str]:
        async with aiohttp.ClientSession() as http, http.get(self.base_url + path) as response:
            return response.status, await response.text()

    async def post_update(self, update: dict[str, Any], secret: str | None = WEBHOOK_SECRET) -> int:
        """Posts `update` to the webhook as Telegram does; returns the HTTP status."""
        headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
        async with (
            aiohttp.ClientSession() as http,
            http.post(self.base_url + "/telegram/webhook", json=update, headers=headers) as response,
        ):
            return response.status

    async def metric(self, name: str, **labels: str) -> float:
        """One sample of /metrics (0 when absent), e.g. metric("kb_questions_total", outcome="answered")."""
        _, text = await self.get("/metrics")
        wanted = name + ("{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}" if labels else "")
        for line in text.splitlines():
            if line.startswith(wanted + " "):
                return float(line.split()[-1])
        return 0.0

    def terminate(self) -> None:
        assert self._process is not None
        self._process.send_signal(signal.SIGTERM)

    async def wait(self, timeout_s: float = 60.0) -> int:
        assert self._process is not None
        self.returncode = await asyncio.wait_for(self._process.wait(), timeout_s)
        return self.returncode

    async def stop(self) -> int:
        if self._process is None:
            return 0
        if self._process.returncode is not None:
            return self._process.returncode
        self.terminate()
        return await self.wait()

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_records(self) -> list[dict[str, Any]]:
        """The JSON log lines (LOG_FORMAT=json); a line that is not JSON fails the test."""
        records = []
        for line in self.log_text().splitlines():
            if line.strip():
                try:
                    records.append(json.loads(line))
                except ValueError:
                    raise AssertionError(f"not a JSON log line: {line!r}") from None
        return records

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._process is not None and self._process.returncode is None:
            self._process.kill()
            await self._process.wait()
