"""The OpenAI-compatible chat client (vLLM in production, llama.cpp or a test server elsewhere)."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Sequence
from typing import Any, cast

import httpx
import openai
from openai import AsyncOpenAI

from bot.domain import LLMUnavailableError

log = logging.getLogger(__name__)


class ChatModel:
    def __init__(
        self, *, base_url: str, api_key: str, model: str, timeout_s: float, max_retries: int = 2
    ) -> None:
        # The openai client retries connection errors, 429 and 5xx with backoff by itself.
        self._client = AsyncOpenAI(
            base_url=base_url, api_key=api_key, timeout=timeout_s, max_retries=max_retries
        )
        self._model = model

    async def complete(
        self,
        messages: Sequence[dict[str, str]],
        *,
        temperature: float,
        max_tokens: int,
        top_k: int | None = None,
        json_schema: dict[str, Any] | None = None,
    ) -> str:
        extra: dict[str, Any] = {}
        if top_k is not None:
            # vLLM reads top_k as a top-level field; the OpenAI SDK passes it through extra_body.
            extra["top_k"] = top_k
        kwargs: dict[str, Any] = {}
        if json_schema is not None:
            kwargs["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "relevant_documents", "schema": json_schema, "strict": True},
            }
        try:
            response = await self._client.chat.completions.create(
                model=self._model,
                # Custom roles ("documents") are valid for vLLM's template but not in the SDK's types.
                messages=cast(Any, list(messages)),
                temperature=temperature,
                max_tokens=max_tokens,
                extra_body=extra or None,
                **kwargs,
            )
        except openai.APIError as exc:
            log.warning("LLM request failed: %s", exc)
            raise LLMUnavailableError(str(exc)) from exc
        if not response.choices:
            raise LLMUnavailableError("the model returned no choices")
        return response.choices[0].message.content or ""

    async def stream(
        self,
        messages: Sequence[dict[str, str]],
        *,
        temperature: float,
        max_tokens: int,
        top_k: int | None = None,
    ) -> AsyncGenerator[str, None]:
        """The completion as it is generated, piece by piece (`stream=True`).

        Closing the iterator early (`aclose()`, or leaving `contextlib.aclosing`) closes the HTTP
        response, and vLLM aborts a request whose client went away, so a stopped answer stops costing
        GPU time. Raises `LLMUnavailableError` when the server fails before or during the stream.
        """
        extra: dict[str, Any] = {"top_k": top_k} if top_k is not None else {}
        try:
            response = await self._client.chat.completions.create(
                model=self._model,
                messages=cast(Any, list(messages)),
                temperature=temperature,
                max_tokens=max_tokens,
                extra_body=extra or None,
                stream=True,
            )
        except openai.APIError as exc:
            log.warning("LLM stream failed to start: %s", exc)
            raise LLMUnavailableError(str(exc)) from exc
        async with response:
            try:
                async for chunk in response:
                    if chunk.choices and chunk.choices[0].delta.content:
                        yield chunk.choices[0].delta.content
            except (openai.APIError, httpx.HTTPError) as exc:
                log.warning("LLM stream broke off: %s", exc)
                raise LLMUnavailableError(str(exc)) from exc

    async def close(self) -> None:
        await self._client.close()
