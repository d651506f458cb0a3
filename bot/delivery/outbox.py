"""The outbox: an answer, once made, is delivered or it is still pending; it is never silently lost.

Usage (one call per answer; the parts are already-built Bot API calls)::

    await outbox.deliver(bot, Delivery(
        chat_id=chat.id, thread_id=thread, reply_to=question_message_id,
        parts=[Part(primary=SendRichMessage(chat_id=chat.id, rich_message=...),
                    fallbacks=[[SendMessage(chat_id=chat.id, text=html_1, parse_mode="HTML"), ...],
                               [SendMessage(chat_id=chat.id, text=plain, parse_mode=None)]])],
        keyboard=markup,                  # goes under the last part
        receipt={...},                    # handed to `on_delivered` once every part is accepted
    ))

What it guarantees (README, "Reliability and security"):

- The delivery is kept in Redis (OutboxStore) from before the first send until Telegram has accepted
  every part; a restarted bot resumes what is left (`resume`), skipping parts already accepted.
- 429s (after the session's own short retries), 5xx answers and network errors are retried with
  exponential backoff (tenacity), a 429 after its `retry_after`, until `deadline_s` after the answer
  was made (DELIVERY_DEADLINE_S, 600 s by default).
- A 400 for the content (HTML Telegram cannot parse, say) moves to the part's next fallback: an
  alternative of one or more messages (one 32K rich message may be several classic ones). A server that
  does not know rich messages at all (404) is remembered by `rich`, and later rich forms are skipped.
- `on_delivered(receipt)` runs only after the last part is accepted: the chat's history gets an
  answer only once the user can see it.
- Saving a delivery settles the question it answers in the question journal in the same
  transaction (`question_key`), so a restart never answers a question twice.

Raises DeliveryFailedError when Telegram refuses for good (every fallback 400, the bot blocked, the chat
gone) or the deadline passes; the delivery is then dropped and logged.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiogram.methods
from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import SendRichMessage, SendRichMessageDraft, TelegramMethod
from aiogram.types import InlineKeyboardMarkup, ReplyParameters
from pydantic import BaseModel
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_before_delay,
    wait_exponential_jitter,
)

log = logging.getLogger(__name__)

DEFAULT_DEADLINE_S = 600.0
# Faults that pass by themselves: flood control, Telegram's own outages, the network.
_TRANSIENT = (TelegramRetryAfter, TelegramServerError, TelegramNetworkError)
_backoff = wait_exponential_jitter(multiplier=0.5, max=30.0)


def question_key(chat_id: int, message_id: int) -> str:
    """The question journal's key for a question message; a delivery replying to it settles it."""
    return f"{chat_id}:{message_id}"


@dataclass
class Part:
    """One piece of a delivery: the call to make, and the alternatives to try in order if Telegram
    answers 400 for the content (e.g. rich HTML → classic HTML messages → plain text); each
    alternative is one or more calls that together say what the primary says."""

    primary: TelegramMethod[Any]
    fallbacks: list[list[TelegramMethod[Any]]] = field(default_factory=list)


class RichPath(Protocol):
    """Per process: whether rich messages work on this Bot API server (bot.delivery.sender.RichSupport)."""

    @property
    def usable(self) -> bool: ...
    def worked(self) -> None: ...
    def refused(self, reason: str) -> None: ...


_RICH = (SendRichMessage, SendRichMessageDraft)


@dataclass
class Delivery:
    """An answer on its way: where it goes, its parts in order, and what to do once it arrived.

    `thread_id`, `reply_to` (first part only) and `keyboard` (last part only) are filled into every
    part's methods that have those fields and leave them unset.
    """

    chat_id: int
    parts: list[Part]
    thread_id: int | None = None
    reply_to: int | None = None
    keyboard: InlineKeyboardMarkup | None = None
    receipt: dict[str, Any] | None = None
    delivery_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    created_at: float = field(default_factory=time.time)  # the deadline counts from here (epoch s)
    sent: int = 0  # parts Telegram has accepted


class DeliveryFailedError(Exception):
    """Telegram refused the delivery for good, or it could not be made before the deadline."""


class OutboxRecords(Protocol):
    async def save_delivery(self, delivery_id: str, payload: str, settles: str | None) -> None: ...
    async def delivered(self, delivery_id: str) -> None: ...
    async def pending_deliveries(self) -> dict[str, str]: ...


class Outbox:
    """Delivers answers through `bot`, kept in `records` until done (see the module docstring)."""

    def __init__(
        self,
        records: OutboxRecords,
        *,
        deadline_s: float = DEFAULT_DEADLINE_S,
        on_delivered: Callable[[dict[str, Any]], Awaitable[None]] | None = None,
        rich: RichPath | None = None,
    ) -> None:
        self._records = records
        self._deadline_s = deadline_s
        self._on_delivered = on_delivered
        self.rich = rich

    async def deliver(self, bot: Bot, delivery: Delivery) -> list[Any]:
        """Sends every part in order; returns what Telegram returned for each (Messages for sends)."""
        _address(delivery)
        settles = question_key(delivery.chat_id, delivery.reply_to) if delivery.reply_to else None
        await self._records.save_delivery(delivery.delivery_id, dump_delivery(delivery), settles)
        return await self._send(bot, delivery)

    async def resume(self, bot: Bot) -> int:
        """Delivers what a previous run left pending; returns how many deliveries it finished."""
        finished = 0
        for delivery_id, payload in (await self._records.pending_deliveries()).items():
            try:
                delivery = load_delivery(payload)
            except (ValueError, KeyError, TypeError, AttributeError):
                log.exception("dropping unreadable pending delivery %s", delivery_id)
                await self._records.delivered(delivery_id)
                continue
            log.info("resuming delivery %s to chat %s", delivery_id, delivery.chat_id)
            try:
                await self._send(bot, delivery)
                finished += 1
            except DeliveryFailedError:
                continue  # logged where it failed
        return finished

    async def _send(self, bot: Bot, delivery: Delivery) -> list[Any]:
        deadline = delivery.created_at + self._deadline_s
        results: list[Any] = []
        try:
            while delivery.sent < len(delivery.parts):
                results.extend(await self._send_part(bot, delivery.parts[delivery.sent], deadline))
                delivery.sent += 1
                if delivery.sent < len(delivery.parts):
                    # A restart from here on resumes after the parts already shown.
                    await self._records.save_delivery(delivery.delivery_id, dump_delivery(delivery), None)
        except DeliveryFailedError as exc:
            log.error("delivery %s to chat %s dropped: %s", delivery.delivery_id, delivery.chat_id, exc)
            await self._records.delivered(delivery.delivery_id)
            raise
        await self._records.delivered(delivery.delivery_id)
        if self._on_delivered is not None and delivery.receipt is not None:
            await self._on_delivered(delivery.receipt)
        return results

    async def _send_part(self, bot: Bot, part: Part, deadline: float) -> list[Any]:
        candidates = [[part.primary], *part.fallbacks]
        if self.rich is not None and not self.rich.usable:
            candidates = [c for c in candidates if c and not isinstance(c[0], _RICH)] or candidates
        for number, methods in enumerate(candidates, start=1):
            rich = isinstance(methods[0], _RICH)
            try:
                results = [await self._call(bot, method, deadline) for method in methods]
            except (TelegramBadRequest, TelegramNotFound) as exc:
                if rich and self.rich is not None and _method_missing(exc):
                    self.rich.refused(exc.message)
                if number == len(candidates):
                    raise DeliveryFailedError(
                        f"Telegram refused every form of the part: {exc.message}"
                    ) from exc
                log.warning(
                    "Telegram refused %s (%s); trying fallback %d",
                    type(methods[0]).__name__,
                    exc.message,
                    number,
                )
                continue
            except _TRANSIENT as exc:
                raise DeliveryFailedError(f"not accepted before the deadline: {exc}") from exc
            except TelegramAPIError as exc:  # 403 blocked, 404 chat gone, …: no point retrying
                raise DeliveryFailedError(f"Telegram refused the delivery: {exc}") from exc
            if rich and self.rich is not None:
                self.rich.worked()
            return results
        raise AssertionError("unreachable: the loop returns or raises")

    async def _call(self, bot: Bot, method: TelegramMethod[Any], deadline: float) -> Any:
        remaining = deadline - time.time()
        if remaining <= 0:
            raise TelegramServerError(method, "the delivery deadline has passed")
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(_TRANSIENT),
            wait=_wait,
            stop=stop_before_delay(remaining),
            before_sleep=_log_retry,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await bot(method)
        raise AssertionError("unreachable: tenacity returns or reraises")


def _method_missing(exc: TelegramAPIError) -> bool:
    # An older self-hosted Bot API server: 404, or "method not found" in a 400.
    text = str(exc).lower()
    return isinstance(exc, TelegramNotFound) or "method not found" in text or "unknown method" in text


def _wait(state: RetryCallState) -> float:
    # Telegram says how long a 429 lasts; anything else backs off exponentially, with jitter.
    error = state.outcome.exception() if state.outcome is not None else None
    if isinstance(error, TelegramRetryAfter):
        return float(error.retry_after)
    return float(_backoff(state))


def _log_retry(state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome is not None else None
    wait = state.next_action.sleep if state.next_action is not None else 0.0
    log.warning("delivery attempt %d failed (%s); retrying in %.1f s", state.attempt_number, error, wait)


def _address(delivery: Delivery) -> None:
    """Fills thread, reply target and keyboard into the parts' methods (where a method has the field
    and the caller left it unset)."""
    last = len(delivery.parts) - 1
    for index, part in enumerate(delivery.parts):
        updates: dict[str, Any] = {}
        if delivery.thread_id is not None:
            updates["message_thread_id"] = delivery.thread_id
        if index == 0 and delivery.reply_to is not None:
            # If the question was deleted meanwhile, the answer still goes out.
            updates["reply_parameters"] = ReplyParameters(
                message_id=delivery.reply_to, allow_sending_without_reply=True
            )
        if index == last and delivery.keyboard is not None:
            updates["reply_markup"] = delivery.keyboard
        part.primary = _fill(part.primary, updates)
        # Within an alternative of several messages only the first quotes, only the last carries buttons.
        head = {k: v for k, v in updates.items() if k != "reply_markup"}
        tail = {k: v for k, v in updates.items() if k != "reply_parameters"}
        middle = {k: v for k, v in updates.items() if k == "message_thread_id"}
        part.fallbacks = [
            [
                _fill(
                    m, updates if len(alt) == 1 else head if i == 0 else tail if i == len(alt) - 1 else middle
                )
                for i, m in enumerate(alt)
            ]
            for alt in part.fallbacks
        ]


def _fill(method: TelegramMethod[Any], updates: dict[str, Any]) -> TelegramMethod[Any]:
    unset = {
        name: value
        for name, value in updates.items()
        if name in type(method).model_fields and getattr(method, name, None) is None
    }
    return method.model_copy(update=unset) if unset else method


def _with_tags(value: Any) -> Any:
    """`value` with every nested object's `type` field marked as set, so `exclude_unset` keeps it.

    `type` is how a union member is told apart (a rich block's "paragraph", a rich text's
    "reference_link"); aiogram fills it by default, so a dump that drops unset fields would drop it too,
    and the loaded blocks would come back as whatever union member fits first. Linear in the objects.
    """
    if isinstance(value, list):
        return [_with_tags(item) for item in value]
    if not isinstance(value, BaseModel):
        return value
    updates = {name: _with_tags(getattr(value, name)) for name in value.model_fields_set}
    tag = getattr(value, "type", None) if "type" in type(value).model_fields else None
    if tag is not None and "type" not in value.model_fields_set:
        updates["type"] = tag
    return value.model_copy(update=updates) if updates else value


def _dump_method(method: TelegramMethod[Any]) -> dict[str, str]:
    # exclude_unset: aiogram's Default(...) placeholders stay placeholders, resolved when sent.
    data = _with_tags(method).model_dump_json(exclude_unset=True)
    return {"method": type(method).__name__, "data": data}


def _load_method(raw: dict[str, str]) -> TelegramMethod[Any]:
    cls = getattr(aiogram.methods, raw["method"])
    if not (isinstance(cls, type) and issubclass(cls, TelegramMethod)):
        raise ValueError(f"not a Bot API method: {raw['method']!r}")
    method: TelegramMethod[Any] = cls.model_validate_json(raw["data"])
    return method


def dump_delivery(delivery: Delivery) -> str:
    """A delivery as JSON (its parts already addressed; the keyboard lives inside the last part)."""
    return json.dumps(
        {
            "chat_id": delivery.chat_id,
            "thread_id": delivery.thread_id,
            "reply_to": delivery.reply_to,
            "parts": [
                {
                    "primary": _dump_method(p.primary),
                    "fallbacks": [[_dump_method(m) for m in alt] for alt in p.fallbacks],
                }
                for p in delivery.parts
            ],
            "receipt": delivery.receipt,
            "delivery_id": delivery.delivery_id,
            "created_at": delivery.created_at,
            "sent": delivery.sent,
        },
        ensure_ascii=False,
    )


def load_delivery(payload: str) -> Delivery:
    """The inverse of `dump_delivery`. Raises ValueError/KeyError on a record it cannot read."""
    raw = json.loads(payload)
    return Delivery(
        chat_id=int(raw["chat_id"]),
        thread_id=raw["thread_id"],
        reply_to=raw["reply_to"],
        parts=[
            Part(_load_method(p["primary"]), [[_load_method(m) for m in alt] for alt in p["fallbacks"]])
            for p in raw["parts"]
        ],
        receipt=raw["receipt"],
        delivery_id=str(raw["delivery_id"]),
        created_at=float(raw["created_at"]),
        sent=int(raw["sent"]),
    )
