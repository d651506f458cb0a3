"""Session-wide real parts: one redis-server, one dense and one sparse model; fresh state per test."""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from bot.app import Services, build_services, run_migrations
from bot.config import Settings, load_settings
from bot.embed.embedder import Embedder
from bot.embed.sparse import SparseEmbedder
from bot.storage.redis_server import RedisServerProcess
from tests.support.llm_server import GroundedLLMServer
from tests.support.telegram_server import FakeTelegramServer

# No model hub here: a missing local model must fail at once, not retry for a minute.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO_ROOT = Path(__file__).resolve().parent.parent
MODEL_NAME = "intfloat/multilingual-e5-small"
SHARED_MODEL = REPO_ROOT.parent / "shared" / "models" / "multilingual-e5-small-int8"
ADMIN_ID = 1001
USER_ID = 2002
BOT_TOKEN = "123456:TEST-token"


def model_path() -> Path | None:
    """The offline copy of the default model when it is beside the repo; else fastembed downloads it."""
    configured = os.environ.get("KB_TEST_MODEL_PATH")
    if configured:
        return Path(configured)
    return SHARED_MODEL if SHARED_MODEL.is_dir() else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def embedder() -> Iterator[Embedder]:
    model = Embedder(MODEL_NAME, model_path())
    yield model
    model.close()


@pytest.fixture(scope="session")
def sparse_embedder() -> SparseEmbedder:
    return SparseEmbedder()


@pytest.fixture(scope="session")
async def redis_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    server = RedisServerProcess(tmp_path_factory.mktemp("redis"), port=free_port(), persist=False)
    url = await server.start()
    yield url
    await server.stop()


@pytest.fixture
async def redis_url(redis_server: str) -> str:
    client: Redis = Redis.from_url(redis_server)
    await client.flushall()
    await client.aclose()
    return redis_server


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client: Redis = Redis.from_url(redis_url, decode_responses=True)
    yield client
    await client.aclose()


@pytest.fixture
async def llm_server() -> AsyncIterator[GroundedLLMServer]:
    async with GroundedLLMServer() as server:
        yield server
    assert server.violations == [], f"the bot broke the Vikhr protocol: {server.violations}"


@pytest.fixture
async def telegram_server() -> AsyncIterator[FakeTelegramServer]:
    async with FakeTelegramServer(token=BOT_TOKEN) as server:
        yield server


SettingsFactory = Callable[..., Settings]


@pytest.fixture
def make_settings(
    tmp_path: Path, redis_url: str, llm_server: GroundedLLMServer, monkeypatch: pytest.MonkeyPatch
) -> SettingsFactory:
    """Settings as the bot reads them, pointing at this test's real servers and folders."""
    monkeypatch.chdir(tmp_path)  # keeps a developer's own .env out of the tests

    def build(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "bot_token": BOT_TOKEN,
            "admin_ids": str(ADMIN_ID),
            "redis_url": redis_url,
            "qdrant_path": tmp_path / "qdrant",
            "llm_base_url": llm_server.base_url,
            "llm_api_key": "test",
            "embedding_model": MODEL_NAME,
            "embedding_model_path": model_path(),
            "http_port": 0,  # the health/metrics server on any free port: tests run side by side
        }
        values.update(overrides)
        return load_settings(**values)

    return build


@pytest.fixture
async def services(
    make_settings: SettingsFactory, embedder: Embedder, sparse_embedder: SparseEmbedder
) -> AsyncIterator[Services]:
    """The bot's own services on real Redis, embedded Qdrant and the fake grounded LLM."""
    settings = make_settings()
    await run_migrations(settings, embedder, sparse_embedder)
    async with build_services(settings, embedder=embedder, sparse=sparse_embedder) as built:
        yield built
