"""The answering service: history → retrieval → two grounded passes → answer with citations."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.concurrency import WorkPool
from bot.cpu import run_cpu_on
from bot.domain import AnswerLanguage, StoredChunk, Turn, heading_path, section_within
from bot.llm.client import Completion
from bot.rag.attribution import Attribution, Attributor, cited_ids, with_references
from bot.rag.language import Language, detect_language
from bot.rag.protocol import (
    answer_messages,
    grounded_messages,
    keep_known_ids,
    parse_relevant_ids,
    relevant_ids_schema,
    strip_echoed_ids,
)
from bot.rag.retrieval import Retriever, Translate
from bot.rag.translation import QueryTranslator

log = logging.getLogger(__name__)


class ChatCompleter(Protocol):
    async def generate(
        self,
        messages: list[dict[str, str]],
        *,
        temperature: float,
        max_tokens: int,
        top_k: int | None = None,
        json_schema: dict[str, Any] | None = None,
    ) -> Completion: ...

    async def problem(self) -> str | None: ...

    def stream(
        self,
        messages: list[dict[str, str]],
        *,
        temperature: float,
        max_tokens: int,
        top_k: int | None = None,
    ) -> AsyncGenerator[Completion, None]: ...


# Called with the whole answer text so far; returning False stops generation (the user pressed stop).
OnDelta = Callable[[str], Awaitable[bool]]


class HistoryStore(Protocol):
    async def recent(self, chat_id: int, thread_id: int | None, budget_chars: int) -> list[Turn]: ...
    async def append(
        self, chat_id: int, thread_id: int | None, question: str, answer: str, speaker: str | None = None
    ) -> None: ...
    async def clear(self, chat_id: int, thread_id: int | None) -> None: ...


@dataclass(frozen=True)
class Citation:
    """One numbered source: a stored document, with every page or section of it the answer drew on."""

    number: int
    doc_id: str
    title: str
    file_name: str
    pages: tuple[int, ...] = ()
    sections: tuple[str, ...] = ()
    model_doc_ids: tuple[int, ...] = ()  # the model's doc ids merged into this source


@dataclass(frozen=True)
class SupportedText:
    """Characters `start`..`end` of the answer are supported by the sources numbered `sources`."""

    start: int
    end: int
    sources: tuple[int, ...]


@dataclass(frozen=True)
class Answer:
    question: str
    language: Language
    found: bool
    text: str  # the model's Markdown; empty when nothing was found
    citations: list[Citation] = field(default_factory=list)
    # The text with reference marks ("… 14 days. [1]") after each supported paragraph.
    cited_text: str = ""
    supported: list[SupportedText] = field(default_factory=list)
    stopped: bool = False  # the user stopped generation; `text` is what was written until then
    documents: list[dict[str, Any]] = field(default_factory=list)
    relevant_ids: list[int] = field(default_factory=list)
    seconds: float = 0.0
    # Seconds per stage: history, embed, search, translate (when asked for), queue (waiting for a model
    # slot), pass1, pass2.
    # The names are the metrics' labels: keep them.
    timings: dict[str, float] = field(default_factory=dict)
    # Pass 2 stopped at max_tokens (finish_reason "length"): the text is incomplete and must say so.
    cut_off: bool = False


@dataclass(frozen=True)
class SamplingConfig:
    temperature: float = 0.3
    top_k: int = 40
    max_tokens: int = 1024
    structured_outputs: bool = True
    history_budget_chars: int = 4000


# Around the model calls only: a slot among LLM_MAX_CONCURRENCY (the desk's queue), or nothing.
ModelTurn = Callable[[], AbstractAsyncContextManager[None]]


def _no_turn() -> AbstractAsyncContextManager[None]:
    return contextlib.nullcontext()


# What the history keeps for a question the knowledge base could not answer.
_NOT_FOUND_MEMO = "[no answer in the knowledge base]"

_CUT_OFF_MEMO = "[answer cut off]"

_ANSWER_IN: dict[Language, str] = {
    "ru": "\n\n(Ответь на русском языке.)",
    "en": "\n\n(Answer in English.)",
}


class AnsweringService:
    def __init__(
        self,
        retriever: Retriever,
        llm: ChatCompleter,
        history: HistoryStore,
        sampling: SamplingConfig,
        attributor: Attributor | None = None,
        translator: QueryTranslator | None = None,
        cpu: WorkPool | None = None,
    ) -> None:
        """`translator`: asked for the question in the documents' language when the chat's scope holds
        documents in the other one (QUERY_TRANSLATION=auto); None never translates. `cpu`: the pool the
        attribution runs on (the process's CPU pool; None: a worker thread of asyncio's default executor)."""
        self._translator = translator
        self._cpu = cpu
        self._retriever = retriever
        self._llm = llm
        self._history = history
        self._sampling = sampling
        self._attributor = attributor or Attributor()

    async def answer(
        self,
        question: str,
        *,
        chat_id: int | None,
        thread_id: int | None = None,
        remember: bool = True,
        speaker: str | None = None,
        language: AnswerLanguage = "auto",
        include_global: bool = True,
        model_turn: ModelTurn = _no_turn,
        on_delta: OnDelta | None = None,
    ) -> Answer:
        """`speaker` names the asker in group chats; `language` forces the answer's language;
        `model_turn` is held around the two model passes (and nothing else).

        With `on_delta`, pass 2 streams: it is called with the text so far as tokens arrive, and when it
        returns False the model's stream is closed and the answer is what was written until then
        (`stopped=True`), attributed to its sources like a whole one.
        """
        started = time.monotonic()
        timings: dict[str, float] = {}
        detected = detect_language(question)
        answer_language: Language = detected if language == "auto" else language
        history = (
            await self._history.recent(chat_id, thread_id, self._sampling.history_budget_chars)
            if chat_id is not None
            else []
        )
        timings["history"] = time.monotonic() - started
        translate: Translate | None = None
        if self._translator is not None:
            # The translation is a model call, so it takes its own turn in the model queue.
            translate = functools.partial(self._translator.translate, model_turn=model_turn)
        retrieval = await self._retriever.search(
            question, chat_id, history, include_global=include_global, translate=translate
        )
        timings["embed"], timings["search"] = retrieval.embed_s, retrieval.search_s
        if retrieval.translate_s:
            timings["translate"] = retrieval.translate_s
        chunks = retrieval.chunks
        documents = [_document_for_model(i, chunk) for i, chunk in enumerate(chunks)]
        relevant: list[int] = []
        text = ""
        cut_off = False
        stopped = False
        # In groups the model sees who asks, so follow-ups from different people make sense.
        user_turn = Turn("user", question, speaker).for_model()
        if documents:
            asked = user_turn
            if answer_language != detected:
                # The system prompt must stay verbatim, so the language request rides on the question.
                asked += _ANSWER_IN[answer_language]
            messages = grounded_messages(documents, history, asked)
            relevant, text, cut_off, stopped = await self._two_passes(
                messages, documents, model_turn, timings, on_delta
            )
        found = bool(relevant and text.strip())
        text = text.strip() if found else ""
        attribution = (
            await run_cpu_on(
                self._cpu,
                self._attributor.attribute,
                text,
                {i: str(documents[i]["content"]) for i in relevant},
            )
            if found
            else Attribution()
        )
        citations = _citations(chunks, relevant, attribution) if found else []
        numbers = {doc: c.number for c in citations for doc in c.model_doc_ids}
        answer = Answer(
            question=question,
            language=answer_language,
            found=found,
            text=text,
            citations=citations,
            cited_text=with_references(text, attribution, numbers) if found else "",
            supported=[
                SupportedText(u.start, u.end, tuple(sorted({numbers[d] for d in u.doc_ids if d in numbers})))
                for u in attribution.units
            ],
            stopped=stopped,
            documents=documents,
            relevant_ids=relevant,
            seconds=time.monotonic() - started,
            timings=timings,
            cut_off=found and cut_off,
        )
        if remember and chat_id is not None:
            await self._history.append(chat_id, thread_id, question, history_memo(answer), speaker=speaker)
        return answer

    async def watch_model_server(self, every_s: float = 30.0) -> None:
        """Background check at start: warns (with the URL and model) while the model server is down or
        serves another model, re-checking every `every_s` s; never blocks start, returns once it is fine."""
        warned = False
        while (problem := await self._llm.problem()) is not None:
            log.warning(
                "%s; questions will fail until it is up (checking again every %.0f s)", problem, every_s
            )
            warned = True
            await asyncio.sleep(every_s)
        if warned:
            log.info("the model server is up and serves the model")

    async def _two_passes(
        self,
        messages: list[dict[str, str]],
        documents: list[dict[str, Any]],
        model_turn: ModelTurn,
        timings: dict[str, float],
        on_delta: OnDelta | None,
    ) -> tuple[list[int], str, bool, bool]:
        """Pass 1 (relevant ids) and, if any, pass 2 (the answer, streamed with `on_delta`), inside one
        model turn. Returns the relevant ids, the answer text, whether pass 2 stopped at max_tokens,
        and whether the user stopped it."""
        relevant: list[int] = []
        text = ""
        cut_off = stopped = False
        structured = self._sampling.structured_outputs
        queued = time.monotonic()
        async with model_turn():
            started = time.monotonic()
            timings["queue"] = started - queued
            pass1 = (
                await self._llm.generate(
                    messages,
                    temperature=0.0,
                    # Vikhr's JSON is ~20 tokens; grammar whitespace or prose around it needs headroom.
                    max_tokens=128 if structured else 256,
                    json_schema=relevant_ids_schema([d["doc_id"] for d in documents]) if structured else None,
                )
            ).text
            timings["pass1"] = time.monotonic() - started
            parsed = parse_relevant_ids(pass1)
            if parsed is None:
                log.warning("pass 1 returned no parsable ids: %r", pass1[:200])
            relevant = keep_known_ids(parsed or [], [d["doc_id"] for d in documents])
            if relevant:
                started = time.monotonic()
                if on_delta is None:
                    completion = await self._llm.generate(
                        answer_messages(messages, pass1),
                        temperature=self._sampling.temperature,
                        top_k=self._sampling.top_k,
                        max_tokens=self._sampling.max_tokens,
                    )
                else:
                    completion, stopped = await self._stream_pass2(
                        answer_messages(messages, pass1), pass1, on_delta
                    )
                timings["pass2"] = time.monotonic() - started
                text = strip_echoed_ids(completion.text, pass1)
                cut_off = completion.finish_reason == "length"
                if cut_off:
                    log.warning(
                        "pass 2 stopped at max_tokens=%d: answer marked cut off", self._sampling.max_tokens
                    )
        return relevant, text, cut_off, stopped

    async def remember_turn(
        self, chat_id: int, thread_id: int | None, question: str, memo: str, speaker: str | None = None
    ) -> None:
        """Adds a question and what the history keeps of its answer (`history_memo`): called once the
        answer was delivered, so history never holds an answer the user did not see (issue 12)."""
        await self._history.append(chat_id, thread_id, question, memo, speaker=speaker)

    async def _stream_pass2(
        self, messages: list[dict[str, str]], pass1: str, on_delta: OnDelta
    ) -> tuple[Completion, bool]:
        """Pass 2 streamed; returns (the text and finish reason, stopped). Leaving the block closes
        the model's stream."""
        pieces: list[str] = []
        finish_reason: str | None = None
        stream = self._llm.stream(
            messages,
            temperature=self._sampling.temperature,
            top_k=self._sampling.top_k,
            max_tokens=self._sampling.max_tokens,
        )
        async with contextlib.aclosing(stream) as tokens:
            async for piece in tokens:
                pieces.append(piece.text)
                finish_reason = piece.finish_reason or finish_reason
                if piece.text and not await on_delta(strip_echoed_ids("".join(pieces), pass1)):
                    return Completion("".join(pieces), "stop"), True
        return Completion("".join(pieces), finish_reason), False

    async def forget(self, chat_id: int, thread_id: int | None = None) -> None:
        """/reset: the conversation is forgotten; the knowledge base is untouched."""
        await self._history.clear(chat_id, thread_id)


def history_memo(answer: Answer) -> str:
    """What the history keeps of an answer: its text, marked when it was cut off."""
    if not answer.found:
        return _NOT_FOUND_MEMO
    return answer.text + (" …" + _CUT_OFF_MEMO if answer.cut_off else "")


def _document_for_model(doc_id: int, chunk: StoredChunk) -> dict[str, Any]:
    # The model sees only title and content, so the section goes into the title.
    return {"doc_id": doc_id, "title": heading_path(chunk.title, chunk.section), "content": chunk.text}


def _citations(chunks: list[StoredChunk], relevant: list[int], attribution: Attribution) -> list[Citation]:
    """Numbered sources: one per stored document the answer drew on, its pages and sections listed.

    Documents are numbered in the order the answer first draws on them. When no paragraph could be
    attributed (a heavily paraphrased answer), the model's own relevant ids are the sources.
    """
    drawn = cited_ids(attribution, relevant) or list(relevant)
    grouped: dict[str, list[int]] = {}
    for model_id in drawn:
        grouped.setdefault(chunks[model_id].doc_id, []).append(model_id)
    citations: list[Citation] = []
    for stored_id, model_ids in grouped.items():
        parts = [chunks[i] for i in model_ids]
        pages = sorted({c.page for c in parts if c.page is not None})
        sections: list[str] = []
        for c in parts:
            section = section_within(c.title, c.section)
            if section and section not in sections:
                sections.append(section)
        citations.append(
            Citation(
                number=len(citations) + 1,
                doc_id=stored_id,
                title=parts[0].title,
                file_name=parts[0].file_name,
                pages=tuple(pages),
                sections=tuple(sections) if not pages else (),
                model_doc_ids=tuple(model_ids),
            )
        )
    return citations
