"""The OpenAI-compatible chat client (vLLM in production, llama.cpp or a test server elsewhere)."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from typing import Any

import httpx2  # openai 3.x moves bytes with httpx2 (not httpx)
import openai
from openai import AsyncOpenAI, AsyncStream, DefaultAioHttpClient
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from bot.domain import LLMUnavailableError
from bot.telemetry import metrics

log = logging.getLogger(__name__)

_PATH = "/chat/completions"
# Bearer auth, as `chat.completions.create` asks for it. The requests go through `client.post` (the
# SDK's documented way to send a body as it is) rather than `create`, whose parameter transform walked
# every message and document on the event loop: 17 % of the bot's CPU at 30 questions/s (py-spy,
# `bench.load`). Our bodies are plain JSON already, so the transform changed nothing in them.
_OPTIONS: Any = {"security": {"bearer_auth": True}}


@dataclass(frozen=True)
class Completion:
    """The model's text and why it stopped: "stop" (finished), "length" (cut at max_tokens), …
    (the OpenAI API's `finish_reason`)."""

    text: str
    finish_reason: str | None


class ChatModel:
    def __init__(
        self, *, base_url: str, api_key: str, model: str, timeout_s: float, max_retries: int = 2
    ) -> None:
        # The openai client retries connection errors, 429 and 5xx with backoff by itself. Its aiohttp
        # transport (the SDK's `aiohttp` extra) moves the bytes: the default httpx/anyio stack was a
        # quarter of the event loop's CPU at 30 questions/s (py-spy, `bench.load`).
        self._client = AsyncOpenAI(
            base_url=base_url,
            api_key=api_key,
            timeout=timeout_s,
            max_retries=max_retries,
            http_client=DefaultAioHttpClient(timeout=timeout_s),
        )
        self._model = model
        self._base_url = base_url

    async def generate(
        self,
        messages: Sequence[dict[str, str]],
        *,
        temperature: float,
        max_tokens: int,
        top_k: int | None = None,
        json_schema: dict[str, Any] | None = None,
    ) -> Completion:
        """One chat completion with its finish reason. Raises LLMUnavailableError when the server
        fails (after the client's own retries) or returns no choice."""
        body = self._body(messages, temperature=temperature, max_tokens=max_tokens, top_k=top_k)
        if json_schema is not None:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "relevant_documents", "schema": json_schema, "strict": True},
            }
        try:
            response = await self._client.post(_PATH, body=body, cast_to=ChatCompletion, options=_OPTIONS)
        except openai.APIError as exc:
            kind, reason = _failure(exc)
            log.warning("LLM request to %s (model %s) failed: %s", self._base_url, self._model, reason)
            metrics.MODEL_ERRORS.labels(error=kind).inc()
            raise LLMUnavailableError(reason) from exc
        if response.usage is not None:
            metrics.record_usage(response.usage.prompt_tokens, response.usage.completion_tokens)
        if not response.choices:
            raise LLMUnavailableError("the model returned no choices")
        choice = response.choices[0]
        return Completion(choice.message.content or "", choice.finish_reason)

    def _body(
        self, messages: Sequence[dict[str, str]], *, temperature: float, max_tokens: int, top_k: int | None
    ) -> dict[str, Any]:
        """The request's JSON body (OpenAI's chat completions schema). Custom roles ("documents") are valid
        for vLLM's chat template; vLLM reads `top_k` as a top-level field."""
        body: dict[str, Any] = {
            "model": self._model,
            "messages": list(messages),
            "temperature": temperature,
            "max_tokens": max_tokens,
        }
        if top_k is not None:
            body["top_k"] = top_k
        return body

    async def problem(self) -> str | None:
        """None when the server answers `GET /models` and serves LLM_MODEL; otherwise what is wrong,
        in one line that names the URL and the model (for the start-up check and /readyz)."""
        try:
            served = [m.id async for m in self._client.models.list()]
        except openai.APIError as exc:
            reason = _failure(exc)[1]
            return f"the model server at {self._base_url} (model {self._model}) is not answering ({reason})"
        if self._model not in served:
            offered = ", ".join(served) or "no model"
            return f"the model server at {self._base_url} serves {offered}, not {self._model}"
        return None

    async def stream(
        self,
        messages: Sequence[dict[str, str]],
        *,
        temperature: float,
        max_tokens: int,
        top_k: int | None = None,
    ) -> AsyncGenerator[Completion, None]:
        """The completion as it is generated, piece by piece (`stream=True`); the last piece carries
        the finish reason ("length": cut at max_tokens).

        Closing the iterator early (`aclose()`, or leaving `contextlib.aclosing`) closes the HTTP
        response, and vLLM aborts a request whose client went away, so a stopped answer stops costing
        GPU time. Raises `LLMUnavailableError` when the server fails before or during the stream.
        """
        body = self._body(messages, temperature=temperature, max_tokens=max_tokens, top_k=top_k)
        body["stream"] = True
        try:
            response = await self._client.post(
                _PATH,
                body=body,
                cast_to=ChatCompletion,
                options=_OPTIONS,
                stream=True,
                stream_cls=AsyncStream[ChatCompletionChunk],
            )
        except openai.APIError as exc:
            kind, reason = _failure(exc)
            log.warning(
                "LLM stream from %s (model %s) failed to start: %s", self._base_url, self._model, reason
            )
            metrics.MODEL_ERRORS.labels(error=kind).inc()
            raise LLMUnavailableError(reason) from exc
        async with response:
            try:
                async for chunk in response:
                    if chunk.choices:
                        choice = chunk.choices[0]
                        if choice.delta.content or choice.finish_reason:
                            yield Completion(choice.delta.content or "", choice.finish_reason)
            except (openai.APIError, httpx2.HTTPError, ValueError) as exc:
                # ValueError: a malformed event (`data: {not json`) from a broken proxy or server.
                log.warning("LLM stream broke off: %s", exc)
                raise LLMUnavailableError(str(exc) or type(exc).__name__) from exc

    async def close(self) -> None:
        await self._client.close()


def _failure(exc: openai.APIError) -> tuple[str, str]:
    """(metric label, one-line reason) for a failed request.

    The SDK's aiohttp transport reports a refused or unreachable connection as a connect *timeout*
    (`APITimeoutError` caused by `httpx2.ConnectTimeout` caused by aiohttp's `OSError`); an operator
    must read "cannot connect", not "timed out", so such a failure is named by its cause.
    """
    cause: BaseException | None = exc.__cause__
    while cause is not None:
        if isinstance(cause, OSError) and not isinstance(cause, TimeoutError):
            return "APIConnectionError", f"cannot connect: {cause}"
        cause = cause.__cause__
    return type(exc).__name__, str(exc)
