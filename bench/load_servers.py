"""The load benchmark's two fake servers, cheap enough to serve thousands of questions.

- `LoadTelegramServer`: the tests' fake Bot API (real HTTP, real Telegram rules), plus a clock per
  question: when it was pushed, its first notice, its final reply (an answer or a refusal).
- `PacedModelServer`: an OpenAI-compatible server that answers Vikhr's two passes (and the floor
  bot's single call) after a configurable delay. The tests' grounded server checks the whole
  protocol and keeps every request, which grows quadratically over a long run; this one only reads
  the question tag and replies.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bot.config import Settings
from tests.support.local_http import LocalHTTPServer
from tests.support.telegram_server import ANSWER_METHODS, FakeTelegramServer, RecordedRequest

# Every benchmark question carries its number, so both servers can tell whose reply or request it is.
TAG = re.compile(r"\[q(\d+)\]")
# The bot's queue notice and its "line full" refusal, in either language (bot/i18n/locales).
_NOTICE = re.compile(r"в очереди под номером|number \d+ in line")
_REFUSAL = re.compile(r"слишком много вопросов|Too many questions at once")


@dataclass
class Asked:
    """One question's timeline, in `time.monotonic()` seconds."""

    number: int
    chat_id: int
    message_id: int
    pushed: float
    first_model_request: float | None = None
    notice: float | None = None
    replied: float | None = None
    refused: bool = False
    extra_messages: list[str] = field(default_factory=list)


class LoadTelegramServer(FakeTelegramServer):
    def __init__(self) -> None:
        super().__init__(strict_html=True)
        self.asked: dict[int, Asked] = {}
        self._by_message: dict[tuple[int, int], Asked] = {}
        self.typing_calls = 0
        self.polled = asyncio.Event()  # set once the bot has asked for updates: it is up

    def ask(self, number: int, chat_id: int, text: str) -> Asked:
        update = self.push_message(
            chat_id=chat_id, user_id=chat_id, text=f"{text} [q{number}]", language_code="ru"
        )
        message = update["message"]
        asked = Asked(number, chat_id, int(message["message_id"]), pushed=time.monotonic())
        self.asked[number] = asked
        self._by_message[(chat_id, asked.message_id)] = asked
        return asked

    def pending(self) -> int:
        return sum(1 for a in self.asked.values() if a.replied is None)

    def _record(self, request: RecordedRequest) -> None:
        # Only what the benchmark reads is kept: a long run would otherwise hold every request.
        self._classify(request)
        self._request_event.set()

    def _classify(self, request: RecordedRequest) -> None:
        now = time.monotonic()
        if request.method == "getUpdates":
            self.polled.set()
        elif request.method == "sendChatAction":
            self.typing_calls += 1
        chat_id = request.chat_id
        # Answers and notices go as rich messages where Telegram takes them, else as classic ones.
        if request.method not in ANSWER_METHODS or request.failed or chat_id is None:
            return
        reply = request.params.get("reply_parameters")
        reply_to = reply.get("message_id") if isinstance(reply, dict) else None
        asked = self._by_message.get((chat_id, reply_to)) if isinstance(reply_to, int) else None
        if asked is None:
            return
        text = request.visible_text
        if _NOTICE.search(text):
            asked.notice = asked.notice or now
        elif asked.replied is None:
            asked.replied = now
            asked.refused = bool(_REFUSAL.search(text))
        else:
            asked.extra_messages.append(text[:80])


class PacedModelServer(LocalHTTPServer):
    """Pass 1 → the first document is relevant; pass 2 → a short Markdown answer; after `delays`."""

    def __init__(self, telegram: LoadTelegramServer) -> None:
        super().__init__()
        self._telegram = telegram
        self.pass1_s = 0.0
        self.pass2_s = 0.0
        self.single_s = 0.0  # the floor bot's one call
        self.in_flight = 0
        self.max_in_flight = 0
        self.requests = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def _build_app(self) -> web.Application:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)
        return app

    async def _models(self, request: web.Request) -> web.Response:
        # The bot's start-up and periodic model check: whatever it asks for is served.
        model = Settings.model_fields["llm_model"].default
        return web.json_response({"object": "list", "data": [{"id": model, "object": "model"}]})

    async def _chat(self, request: web.Request) -> web.Response:
        arrived = time.monotonic()
        body: dict[str, Any] = await request.json()
        messages = body["messages"]
        last = messages[-1]
        tag = TAG.search(str(messages[-1 if last["role"] == "user" else -2]["content"]))
        if tag is not None:
            asked = self._telegram.asked.get(int(tag.group(1)))
            if asked is not None and asked.first_model_request is None:
                asked.first_model_request = arrived
        self.requests += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if last["role"] == "assistant":
                delay, content = self.pass2_s, "**Ответ.** Покупатель может вернуть товар в течение 14 дней."
            elif body.get("response_format") is not None or messages[0]["role"] == "system":
                delay, content = self.pass1_s, json.dumps({"relevant_doc_ids": [0]})
            else:
                delay, content = self.single_s, "Ответ: 14 дней."
            if delay:
                await asyncio.sleep(delay)
        finally:
            self.in_flight -= 1
        return web.json_response(
            {
                "id": f"chatcmpl-load-{self.requests}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", "fake"),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
                        "finish_reason": "stop",
                        "logprobs": None,
                    }
                ],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            }
        )
