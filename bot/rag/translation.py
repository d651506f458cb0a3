"""Translating a question into the documents' language, so a question in English also searches
Russian documents with Russian words (and back).

The e5 vector finds the right paragraph across languages only ~95 % as often as within one, and
BM25 finds almost nothing across them (README, "Cross-lingual retrieval"). With the question also
searched in the documents' language, both legs work again. It costs one short model call, so it is
made only when the chat's scope is mostly in the other language (bot/rag/retrieval.py), inside the
question's model turn (the LLM_MAX_CONCURRENCY queue), and under a short timeout: on any failure
the original question is searched alone, as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Literal, Protocol

from bot.llm.client import Completion
from bot.rag.language import Language, detect_language
from bot.rag.protocol import translation_messages

log = logging.getLogger(__name__)

QueryTranslation = Literal["auto", "off"]
ModelTurn = Callable[[], AbstractAsyncContextManager[None]]

# A translated question is about as long as the question; more means the model is rambling.
_TOKENS_PER_CHAR = 0.5
_MIN_TOKENS = 64
_MAX_TOKENS = 512
_QUOTES = "\"'«»“”„`"


class TextGenerator(Protocol):
    async def generate(
        self,
        messages: Sequence[dict[str, str]],
        *,
        temperature: float,
        max_tokens: int,
        top_k: int | None = None,
        json_schema: dict[str, Any] | None = None,
    ) -> Completion: ...


def _no_turn() -> AbstractAsyncContextManager[None]:
    return contextlib.nullcontext()


class QueryTranslator:
    """Asks the chat model for a translation of a question; None whenever that fails."""

    def __init__(self, llm: TextGenerator, *, timeout_s: float = 5.0) -> None:
        """`timeout_s`: the most the call may take, waiting for a model slot included (seconds)."""
        self._llm = llm
        self._timeout_s = timeout_s

    async def translate(self, text: str, target: Language, model_turn: ModelTurn = _no_turn) -> str | None:
        """`text` in `target` ("ru" or "en"), or None when the model fails, times out, stops at
        max_tokens, or answers in another language. Never raises (cancellation aside)."""
        started = time.monotonic()
        max_tokens = min(_MAX_TOKENS, _MIN_TOKENS + int(len(text) * _TOKENS_PER_CHAR))
        try:
            async with asyncio.timeout(self._timeout_s), model_turn():
                completion = await self._llm.generate(
                    translation_messages(text, target), temperature=0.0, max_tokens=max_tokens
                )
        except Exception as exc:  # any failure: the original question is searched alone
            log.warning(
                "query translation into %s failed after %.2f s (%s: %s); searching the question as asked",
                target,
                time.monotonic() - started,
                type(exc).__name__,
                exc,
            )
            return None
        seconds = time.monotonic() - started
        translated = completion.text.strip().strip(_QUOTES).strip()
        if completion.finish_reason == "length" or not translated or detect_language(translated) != target:
            log.warning(
                "query translation into %s unusable after %.2f s: %r", target, seconds, translated[:200]
            )
            return None
        log.info("query translated into %s in %.2f s", target, seconds)
        return translated
