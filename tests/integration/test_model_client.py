"""The model client's failures, as an operator reads them: over real HTTP, no mocks."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from bot.domain import LLMUnavailableError
from bot.llm.client import ChatModel
from tests.support.local_http import LocalHTTPServer

QUESTION = [{"role": "user", "content": "Как вернуть товар?"}]


def _closed_port() -> int:
    with socket.socket() as probe:  # bound and released: nothing listens there now
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_a_model_server_that_is_down_is_named_as_unreachable_not_slow() -> None:
    model = ChatModel(
        base_url=f"http://127.0.0.1:{_closed_port()}/v1", api_key="k", model="m", timeout_s=5, max_retries=0
    )
    try:
        with pytest.raises(LLMUnavailableError, match="cannot connect"):
            await model.generate(QUESTION, temperature=0, max_tokens=8)
        problem = await model.problem()
        assert problem is not None
        assert "cannot connect" in problem
        assert "timed out" not in problem
    finally:
        await model.close()


class _GarbledStream(LocalHTTPServer):
    """A server (or a proxy in front of it) that breaks the event stream mid-answer."""

    def _build_app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        return app

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        chunk = {
            "id": "c",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": "m",
            "choices": [{"index": 0, "delta": {"content": "Срок "}, "finish_reason": None}],
        }
        await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
        await response.write(b"data: {not json\n\n")
        return response


@pytest.fixture
async def garbled() -> AsyncIterator[_GarbledStream]:
    async with _GarbledStream() as server:
        yield server


async def test_a_garbled_stream_ends_as_the_model_being_unavailable(garbled: _GarbledStream) -> None:
    model = ChatModel(
        base_url=f"http://127.0.0.1:{garbled.port}/v1", api_key="k", model="m", timeout_s=5, max_retries=0
    )
    pieces: list[str] = []

    async def read() -> None:
        async for piece in model.stream(QUESTION, temperature=0, max_tokens=8):
            pieces.append(piece.text)

    try:
        with pytest.raises(LLMUnavailableError):  # what the handlers turn into "the model is unavailable"
            await read()
    finally:
        await model.close()
    assert pieces == ["Срок "]
