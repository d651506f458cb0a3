"""A fake OpenAI-compatible server that plays Vikhr-Nemo in grounded RAG mode.

Vikhr-Nemo-12B-Instruct-R answers from documents in two passes over one conversation:

1. ``[system, documents, ...history, user]`` at temperature 0 with a JSON schema, and the
   model replies ``{"relevant_doc_ids": [...]}``;
2. the same messages plus that reply as an ``assistant`` turn, sampled at a moderate
   temperature, and the model writes the answer from those documents.

The model only behaves when the prompt is exactly this shape, so the server checks every
detail and reports deviations instead of quietly answering: each violation becomes an
HTTP 400 (which the openai client raises as ``BadRequestError``) and is appended to
``violations``, which tests assert to be empty.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from tests.support.local_http import LocalHTTPServer

JSONDict = dict[str, Any]

# Deliberately a copy, not an import from the bot: a typo there must fail the tests.
SYSTEM_PROMPT = (
    "Your task is to answer the user's questions using only the information from the provided "
    "documents. Give two answers to each question: one with a list of relevant document identifiers "
    "and the second with the answer to the question itself, using documents with these identifiers."
)
# The query-translation call's system prompts (issue 11), also copied on purpose: target → prompt.
TRANSLATION_PROMPTS = {
    "ru": (
        "You translate search queries into Russian. Translate the user's message into Russian. Keep "
        "names, numbers and codes. Reply with the translation only, without quotes or explanations."
    ),
    "en": (
        "You translate search queries into English. Translate the user's message into English. Keep "
        "names, numbers and codes. Reply with the translation only, without quotes or explanations."
    ),
}
DEFAULT_MODEL = "Vikhrmodels/Vikhr-Nemo-12B-Instruct-R-21-09-24"
NO_ANSWER_RU = "Я не нашёл ответа в документах."
NO_ANSWER_EN = "I could not find the answer in the documents."

_WORD_RE = re.compile(r"[^\W\d_]+")  # runs of Unicode letters, Cyrillic included
_CYRILLIC_RE = re.compile(r"[\u0400-\u04FF]")
_SENTENCE_END_RE = re.compile(r"(?<=[.!?…])\s+|\n+")
# Question words that would otherwise make every document "relevant".
_STOPWORDS = frozenset(
    {
        "about", "after", "before", "being", "could", "does", "doing", "other", "please", "should",
        "their", "there", "these", "those", "where", "which", "while", "would", "what's", "tell",
        "какой", "какая", "какие", "какое", "каких", "который", "которая", "которые", "сколько",
        "почему", "нужно", "можно", "через", "после", "перед", "между", "чтобы", "этого", "расскажи",
        "скажи", "пожалуйста", "сейчас", "какого",
    }
)  # fmt: skip


class ProtocolViolationError(Exception):
    """The request does not follow the grounded RAG protocol."""


def stems(text: str) -> set[str]:
    """Crude language-agnostic stemming: the first 5 letters of every word of 5+ letters."""
    return {w[:5] for w in _WORD_RE.findall(text.lower()) if len(w) >= 5 and w not in _STOPWORDS}


def first_sentence(text: str) -> str:
    # Like the model, answer with prose: Markdown heading lines are skipped.
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    return _SENTENCE_END_RE.split(body.strip(), maxsplit=1)[0].strip()


def _approx_tokens(text: str) -> int:
    return max(1, len(text) // 4)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class _Pass1:
    """What a successful pass 1 saw and answered, so pass 2 can be checked against it."""

    def __init__(self, messages: list[JSONDict], docs: list[JSONDict], reply: str, ids: list[int]) -> None:
        self.messages = messages
        self.docs = docs
        self.reply = reply
        self.ids = ids


class GroundedLLMServer(LocalHTTPServer):
    """OpenAI-compatible ``/v1/chat/completions`` that enforces Vikhr's grounded RAG protocol."""

    def __init__(self, *, structured_outputs: bool = True, model: str = DEFAULT_MODEL) -> None:
        super().__init__()
        # False imitates a server without guided decoding: response_format is ignored and
        # pass 1 comes back as chatty text around the JSON.
        self.structured_outputs = structured_outputs
        self.model = model
        # Overrides relevance: (question, docs) -> doc_ids.
        self.choose_ids: Callable[[str, list[JSONDict]], list[int]] | None = None
        # Appended to every pass-2 answer (long answers, tricky Markdown).
        self.answer_suffix = ""
        # True imitates llama.cpp's default "prefill assistant": the final assistant message is
        # continued rather than closed, so pass 2's text starts with pass 1's JSON.
        self.prefill_assistant = False
        # Seconds each completion takes, to make requests overlap.
        self.delay_s = 0.0
        # Streaming pace for pass 2 with stream=true: seconds to the first token, then tokens a second.
        self.first_token_s = 0.0
        self.tokens_per_s = 0.0  # 0: as fast as the connection goes
        # Replaces pass 2's answer text (long or tricky Markdown); None keeps the grounded answer.
        self.answer_text: str | None = None
        # Streams the client closed before the end (a stopped answer aborts generation in vLLM).
        self.streams_aborted = 0
        self.streams_finished = 0
        # Texts that must never reach the model (another chat's documents): seeing one is a violation.
        self.forbidden: set[str] = set()
        # Query translations the fake "model" knows: question → its translation. An unknown question
        # comes back unchanged, as from a model that could not translate it.
        self.translations: dict[str, str] = {}
        self.requests: list[JSONDict] = []
        # The bearer token of every request, in order: like vLLM started with --api-key, a request
        # without one is refused with a 401.
        self.bearer_tokens: list[str] = []
        self.violations: list[str] = []
        self._kinds: list[str] = []
        self._pass1: list[_Pass1] = []
        self._completion_ids = 0
        self._fail_next: list[int] = []

    # ------------------------------------------------------------------ lifecycle

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def _build_app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)  # many large documents
        app.router.add_post("/v1/chat/completions", self._handle_chat)
        app.router.add_get("/v1/models", self._handle_models)
        return app

    # ------------------------------------------------------------------ inspection

    @property
    def pass1_requests(self) -> list[JSONDict]:
        """Requests whose last message is the user's question (valid or not)."""
        return [r for r, kind in zip(self.requests, self._kinds, strict=True) if kind == "pass1"]

    @property
    def pass2_requests(self) -> list[JSONDict]:
        """Requests whose last message is the assistant's doc-id turn (valid or not)."""
        return [r for r, kind in zip(self.requests, self._kinds, strict=True) if kind == "pass2"]

    @property
    def translation_requests(self) -> list[JSONDict]:
        """Query-translation calls: a translation system prompt and the question (valid or not)."""
        return [r for r, kind in zip(self.requests, self._kinds, strict=True) if kind == "translate"]

    def fail_next(self, status: int = 500, times: int = 1) -> None:
        """Answer the next ``times`` chat requests with a plain server error (outage tests).

        Note the openai client retries 5xx/429 itself (``max_retries``, 2 by default).
        """
        self._fail_next.extend([status] * times)

    # ------------------------------------------------------------------ HTTP handlers

    def _unauthorized(self, request: web.Request) -> web.Response | None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme != "Bearer" or not token:
            self.violations.append(f"{request.path} without a bearer token")
            return web.json_response({"error": "Unauthorized"}, status=401)  # vLLM's reply
        self.bearer_tokens.append(token)
        return None

    async def _handle_models(self, request: web.Request) -> web.Response:
        if (refused := self._unauthorized(request)) is not None:
            return refused
        return web.json_response(
            {
                "object": "list",
                "data": [{"id": self.model, "object": "model", "created": 0, "owned_by": "vikhrmodels"}],
            }
        )

    async def _handle_chat(self, request: web.Request) -> web.StreamResponse:
        if (refused := self._unauthorized(request)) is not None:
            return refused
        try:
            body: Any = await request.json()
        except ValueError:
            body = None
        index = len(self.requests)
        self.requests.append(body if isinstance(body, dict) else {"_invalid_body": body})
        self._kinds.append(self._classify(body))
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        leaked = [text for text in sorted(self.forbidden) if text in json.dumps(body, ensure_ascii=False)]
        if leaked:
            self.violations.append(f"request #{index} carries forbidden text {leaked}")
        if self._fail_next:
            status = self._fail_next.pop(0)
            return self._error(status, "injected failure", "server_error", "injected")
        try:
            if not isinstance(body, dict):
                raise ProtocolViolationError("request body is not a JSON object")
            content = self._answer(body)
        except ProtocolViolationError as violation:
            reason = f"request #{index}: {violation}"
            self.violations.append(reason)
            return self._error(400, reason, "invalid_request_error", "grounded_protocol_violation")
        prompt_text = "".join(str(m.get("content", "")) for m in body["messages"])
        finish_reason = "stop"
        max_tokens = body.get("max_tokens")
        if isinstance(max_tokens, int) and _approx_tokens(content) > max_tokens:
            # Like a real server: the text stops at max_tokens, and the reply says why.
            content, finish_reason = content[: max_tokens * 4], "length"
        self._completion_ids += 1
        if body.get("stream"):
            return await self._stream(request, body, content, finish_reason)
        prompt_tokens, completion_tokens = _approx_tokens(prompt_text), _approx_tokens(content)
        return web.json_response(
            {
                "id": f"chatcmpl-fake-{self._completion_ids}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
                        "finish_reason": finish_reason,
                        "logprobs": None,
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                },
            }
        )

    async def _stream(
        self, request: web.Request, body: JSONDict, content: str, finish_reason: str = "stop"
    ) -> web.StreamResponse:
        """Server-sent events as vLLM sends them: role chunk, content chunks, finish chunk, [DONE]."""
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        completion_id = f"chatcmpl-fake-{self._completion_ids}"

        def event(delta: JSONDict, finish: str | None = None) -> bytes:
            chunk = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": body["model"],
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
            }
            return f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n".encode()

        # Tokens of about 4 characters, cut so that whitespace stays with the following word.
        tokens = re.findall(r"\s*\S{1,4}|\s+", content)
        try:
            await response.write(event({"role": "assistant", "content": ""}))
            if self.first_token_s:
                await asyncio.sleep(self.first_token_s)
            for token in tokens:
                await response.write(event({"content": token}))
                if self.tokens_per_s:
                    await asyncio.sleep(1.0 / self.tokens_per_s)
            await response.write(event({}, finish_reason))
            await response.write(b"data: [DONE]\n\n")
            await response.write_eof()
        except ConnectionResetError:
            self.streams_aborted += 1  # the client closed the stream: stop generating, as vLLM does
            return response
        except asyncio.CancelledError:
            self.streams_aborted += 1
            raise
        self.streams_finished += 1
        return response

    @staticmethod
    def _error(status: int, message: str, kind: str, code: str) -> web.Response:
        return web.json_response(
            {"error": {"message": message, "type": kind, "param": None, "code": code}}, status=status
        )

    @staticmethod
    def _classify(body: Any) -> str:
        messages = body.get("messages") if isinstance(body, dict) else None
        if (
            isinstance(messages, list)
            and messages
            and isinstance(messages[0], dict)
            and messages[0].get("content") in TRANSLATION_PROMPTS.values()
        ):
            return "translate"
        if isinstance(messages, list) and messages and isinstance(messages[-1], dict):
            role = messages[-1].get("role")
            if role == "user":
                return "pass1"
            if role == "assistant":
                return "pass2"
        return "invalid"

    # ------------------------------------------------------------------ protocol

    def _answer(self, body: JSONDict) -> str:
        if not isinstance(body.get("model"), str) or not body["model"]:
            raise ProtocolViolationError("model must be a non-empty string")
        if self._classify(body) == "translate":
            return self._translation_reply(body)
        if body.get("stream") and self._classify(body) != "pass2":
            raise ProtocolViolationError("pass 1 must not stream: its JSON is parsed whole")
        messages = body.get("messages")
        if not isinstance(messages, list) or len(messages) < 3:
            raise ProtocolViolationError("messages must be [system, documents, ..., user|assistant]")
        for position, message in enumerate(messages):
            if not isinstance(message, dict) or not isinstance(message.get("content"), str):
                raise ProtocolViolationError(f"messages[{position}] must be an object with string content")
        if messages[0] != {"role": "system", "content": SYSTEM_PROMPT}:
            raise ProtocolViolationError(
                f"messages[0] must be exactly the Vikhr grounded system prompt, got {messages[0]!r}"
            )
        docs = self._check_documents(messages[1])
        for position, message in enumerate(messages[2:-1], start=2):
            if message.get("role") not in ("user", "assistant") or set(message) != {"role", "content"}:
                raise ProtocolViolationError(
                    f"messages[{position}] must be a plain user/assistant history turn, got {message!r}"
                )
        last = messages[-1]
        if set(last) != {"role", "content"}:
            raise ProtocolViolationError(f"last message must have only role and content, got {sorted(last)}")
        if last["role"] == "user":
            return self._pass1_reply(body, messages, docs)
        if last["role"] == "assistant":
            return self._pass2_reply(body, messages, docs)
        raise ProtocolViolationError(
            f"last message must be user (pass 1) or assistant (pass 2), got {last['role']!r}"
        )

    def _translation_reply(self, body: JSONDict) -> str:
        """A plain chat call, no documents: exactly [system (a translation prompt), user], greedy."""
        messages = body["messages"]
        if len(messages) != 2 or messages[1].get("role") != "user" or messages[0].get("role") != "system":
            raise ProtocolViolationError(f"a translation call must be [system, user], got {messages!r}")
        if any(set(m) != {"role", "content"} or not isinstance(m["content"], str) for m in messages):
            raise ProtocolViolationError("translation messages must have only string role and content")
        if body.get("temperature") != 0 or body.get("stream") or body.get("response_format"):
            raise ProtocolViolationError("a translation is one greedy, unstructured, unstreamed completion")
        question = str(messages[1]["content"])
        return self.translations.get(question, question)

    @staticmethod
    def _check_documents(message: JSONDict) -> list[JSONDict]:
        if message.get("role") != "documents" or set(message) != {"role", "content"}:
            raise ProtocolViolationError(
                f"messages[1] must be {{'role': 'documents', 'content': ...}}, got {message!r}"
            )
        content = message["content"]
        try:
            docs = json.loads(content)
        except ValueError as error:
            raise ProtocolViolationError(f"documents content is not JSON: {error}") from error
        if not isinstance(docs, list):
            raise ProtocolViolationError("documents content must be a JSON list")
        seen: set[int] = set()
        for doc in docs:
            if not isinstance(doc, dict) or set(doc) != {"doc_id", "title", "content"}:
                raise ProtocolViolationError(
                    f"each document must have exactly doc_id, title, content: {doc!r}"
                )
            doc_id = doc["doc_id"]
            if not isinstance(doc_id, int) or isinstance(doc_id, bool):
                raise ProtocolViolationError(f"doc_id must be an int, got {doc_id!r}")
            if doc_id in seen:
                raise ProtocolViolationError(f"duplicate doc_id {doc_id}")
            seen.add(doc_id)
            if not (doc["title"] is None or isinstance(doc["title"], str)):
                raise ProtocolViolationError(f"title must be a string or null, got {doc['title']!r}")
            if not isinstance(doc["content"], str):
                raise ProtocolViolationError(f"content must be a string, got {doc['content']!r}")
        # Vikhr was trained on this exact serialisation; other spacing or \u escapes drift it.
        if content != json.dumps(docs, ensure_ascii=False):
            raise ProtocolViolationError("documents content must equal json.dumps(docs, ensure_ascii=False)")
        return docs

    def _pass1_reply(self, body: JSONDict, messages: list[JSONDict], docs: list[JSONDict]) -> str:
        temperature = body.get("temperature")
        if not _is_number(temperature) or temperature != 0:
            raise ProtocolViolationError(f"pass 1 needs temperature=0, got {temperature!r}")
        allowed: list[int] | None = None
        if self.structured_outputs:
            allowed = self._check_schema(body.get("response_format"), docs)
        question = messages[-1]["content"]
        if self.choose_ids is not None:
            ids = list(self.choose_ids(question, docs))
        else:
            wanted = stems(question)
            ids = [d["doc_id"] for d in docs if wanted & stems(f"{d['title'] or ''} {d['content']}")]
        if allowed is not None:
            # Guided decoding cannot emit an id outside the schema's enum.
            ids = [i for i in ids if i in allowed]
        payload = json.dumps({"relevant_doc_ids": ids})
        # Without guided decoding the model wraps the JSON in prose and a code fence.
        reply = payload if self.structured_outputs else f"Relevant documents: ```json\n{payload}\n```"
        self._pass1.append(_Pass1(messages, docs, reply, ids))
        return reply

    @staticmethod
    def _check_schema(response_format: Any, docs: list[JSONDict]) -> list[int] | None:
        """Checks the pass-1 schema; returns its enum of allowed ids when it has one."""
        if not isinstance(response_format, dict) or response_format.get("type") != "json_schema":
            raise ProtocolViolationError(
                f"pass 1 needs response_format type json_schema, got {response_format!r}"
            )
        spec = response_format.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        properties = schema.get("properties") if isinstance(schema, dict) else None
        prop = properties.get("relevant_doc_ids") if isinstance(properties, dict) else None
        items = prop.get("items") if isinstance(prop, dict) else None
        if not (
            isinstance(prop, dict)
            and prop.get("type") == "array"
            and isinstance(items, dict)
            and items.get("type") == "integer"
        ):
            raise ProtocolViolationError(
                "pass 1 json_schema must declare relevant_doc_ids as an array of integers, "
                f"got {response_format!r}"
            )
        enum = items.get("enum")
        if enum is None:
            return None
        sent = [d["doc_id"] for d in docs]
        if enum != sent:
            raise ProtocolViolationError(
                f"pass 1 schema enum {enum!r} differs from the doc_ids sent {sent!r}"
            )
        if prop.get("maxItems") is not None and prop["maxItems"] > len(sent):
            raise ProtocolViolationError(f"maxItems {prop['maxItems']} exceeds the {len(sent)} documents")
        return list(enum)

    def _pass2_reply(self, body: JSONDict, messages: list[JSONDict], docs: list[JSONDict]) -> str:
        prefix, reply = messages[:-1], messages[-1]["content"]
        same_prompt = [p for p in self._pass1 if p.messages == prefix]
        if not same_prompt:
            raise ProtocolViolationError("pass 2 messages[:-1] do not match any earlier pass-1 request")
        matched = next((p for p in reversed(same_prompt) if p.reply == reply), None)
        if matched is None:
            raise ProtocolViolationError(
                f"pass 2 assistant turn must be the pass-1 reply verbatim: expected "
                f"{same_prompt[-1].reply!r}, got {reply!r}"
            )
        temperature = body.get("temperature")
        if (
            not isinstance(temperature, int | float)
            or isinstance(temperature, bool)
            or not 0.2 <= temperature <= 0.5
        ):
            raise ProtocolViolationError(f"pass 2 needs 0.2 <= temperature <= 0.5, got {temperature!r}")
        top_k = body.get("top_k")
        if not isinstance(top_k, int) or isinstance(top_k, bool) or not 30 <= top_k <= 50:
            raise ProtocolViolationError(f"pass 2 needs top_k in [30, 50] (extra_body), got {top_k!r}")
        if isinstance(body.get("response_format"), dict) and body["response_format"].get("type") != "text":
            # A schema here would force the answer itself into JSON.
            raise ProtocolViolationError("pass 2 must not constrain the answer with response_format")
        question = messages[-2]["content"]
        russian = bool(_CYRILLIC_RE.search(question))
        by_id = {d["doc_id"]: d for d in docs}
        sentences = [first_sentence(by_id[i]["content"]) for i in matched.ids if i in by_id]
        sentences = [s for s in sentences if s]
        if not sentences:
            answer = NO_ANSWER_RU if russian else NO_ANSWER_EN
        else:
            answer = ("**Ответ.** " if russian else "**Answer.** ") + " ".join(sentences)
        if self.answer_text is not None:
            answer = self.answer_text
        echo = f"{reply}\n\n" if self.prefill_assistant else ""
        return echo + answer + self.answer_suffix
