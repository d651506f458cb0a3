"""Showing the answer while the model writes it.

- Private chats: `sendRichMessageDraft` with a stop button (`can_stop=True`), at most one update every
  `STREAM_INTERVAL_MS`; the same `draft_id` animates the change. The final message replaces the draft.
- Groups (when a chat's admins turn it on): one placeholder reply, edited at most every
  `GROUP_STREAM_INTERVAL_S`; every edit also waits for the group's send budget.

Sending never holds up the model's tokens: the newest text waits in one slot and a background task
sends it when the interval allows, so a slow Telegram only makes updates rarer.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import itertools
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.methods import (
    DeleteMessage,
    EditMessageText,
    SendMessage,
    SendMessageDraft,
    SendRichMessageDraft,
)
from aiogram.types import InputRichMessage, LinkPreviewOptions, ReplyParameters

from bot.delivery.sender import RichSupport
from bot.delivery.target import Target

log = logging.getLogger(__name__)

# What a draft shows: the text so far as rich HTML (True) or classic HTML (False), rendered off the
# event loop; raises TimeoutError when rendering took too long.
DraftRenderer = Callable[[str, bool], Awaitable[str]]

# Telegram's draft ids must be non-zero; one counter per process keeps them apart.
_draft_ids = itertools.count(1)


class StopSignals:
    """Stop buttons pressed: (chat id, draft id) → an event the streaming answer watches."""

    def __init__(self) -> None:
        self._events: dict[tuple[int, int], asyncio.Event] = {}

    def open(self, chat_id: int) -> tuple[int, asyncio.Event]:
        draft_id = next(_draft_ids)
        event = asyncio.Event()
        self._events[(chat_id, draft_id)] = event
        return draft_id, event

    def stop(self, chat_id: int, draft_id: int) -> bool:
        """The `stopped_message_generation` update; False when no answer of ours is streaming there."""
        event = self._events.get((chat_id, draft_id))
        if event is None:
            return False
        event.set()
        return True

    def close(self, chat_id: int, draft_id: int) -> None:
        self._events.pop((chat_id, draft_id), None)


class _Throttled(ABC):
    """Keeps the newest text and sends it no more often than every `interval_s` seconds."""

    def __init__(self, interval_s: float) -> None:
        self._interval_s = interval_s
        self._latest: str | None = None
        self._sent_at = 0.0
        self._task: asyncio.Task[None] | None = None
        self._sending = False  # an update is on its way to Telegram
        self._quiet = False  # Telegram refused an update: no more for this answer
        self._closed = False  # flushed: the final message is on its way
        self.first_shown_at: float | None = None  # monotonic time the first update was accepted

    def offer(self, text: str) -> None:
        if self._quiet or self._closed:
            return
        self._latest = text
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain())

    async def _drain(self) -> None:
        while self._latest is not None:
            wait = self._sent_at + self._interval_s - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
                if self._closed:  # flushed meanwhile: the final message is coming
                    return
            text, self._latest = self._latest, None
            self._sent_at = time.monotonic()
            self._sending = True
            try:
                await self._show(text)
            except TelegramAPIError as exc:
                log.warning("a streamed update was refused: %s", exc)
                self._failed(exc)
                return
            finally:
                self._sending = False
            if self.first_shown_at is None:
                self.first_shown_at = time.monotonic()

    @abstractmethod
    async def _show(self, text: str) -> None:
        """Shows `text`: DraftStream as a private draft, PlaceholderStream by editing a group reply."""

    def _failed(self, exc: TelegramAPIError) -> None:
        """After a refusal the stream stays quiet; the final message still comes."""
        self._quiet = True
        self._latest = None

    async def flush(self) -> None:
        """Stops sending: an update waiting for its turn is dropped, one under way is waited for."""
        self._latest = None
        self._closed = True
        task = self._task
        if task is None or task.done():
            return
        if not self._sending:
            task.cancel()  # only waiting out the interval: the final message must not wait for it
        # asyncio.wait neither raises the task's error nor swallows a cancellation of this caller.
        await asyncio.wait([task])


class DraftStream(_Throttled):
    """A private chat's animated draft with a stop button."""

    def __init__(
        self,
        bot: Bot,
        target: Target,
        rich: RichSupport,
        render: DraftRenderer,
        *,
        draft_id: int,
        interval_s: float,
    ) -> None:
        super().__init__(interval_s)
        self._bot = bot
        self._target = target
        self._rich = rich
        self._render = render
        self.draft_id = draft_id

    async def _show(self, text: str) -> None:
        if self._rich.usable:
            try:
                rich_html = await self._render(text, True)
            except TimeoutError:
                rich_html = f"<p>{html.escape(text, quote=False)}</p>"
            try:
                await self._bot(
                    SendRichMessageDraft(
                        chat_id=self._target.chat_id,
                        draft_id=self.draft_id,
                        message_thread_id=self._target.thread_id,
                        rich_message=InputRichMessage(html=rich_html, skip_entity_detection=True),
                        can_stop=True,
                    )
                )
                return
            except TelegramAPIError as exc:
                if "not found" in str(exc).lower():
                    self._rich.refused(str(exc))
                else:
                    raise
        try:
            classic_html = await self._render(text, False)
        except TimeoutError:
            classic_html = html.escape(text, quote=False)
        await self._bot(
            SendMessageDraft(
                chat_id=self._target.chat_id,
                draft_id=self.draft_id,
                message_thread_id=self._target.thread_id,
                text=classic_html,  # one classic message's worth (bot.render.answer.draft_html)
                parse_mode="HTML",
                can_stop=True,
            )
        )


class PlaceholderStream(_Throttled):
    """A group's one reply that grows as the answer is written; removed when the final message is sent."""

    def __init__(self, bot: Bot, target: Target, render: DraftRenderer, *, interval_s: float) -> None:
        super().__init__(interval_s)
        self._bot = bot
        self._target = target
        self._render = render
        self._message_id: int | None = None

    async def _show(self, text: str) -> None:
        # A cut-off preview: the last 3,500 characters' worth would be unreadable; the start is kept.
        preview = text if len(text) <= 3500 else text[:3500] + "…"
        try:
            classic_html = await self._render(preview, False)
        except TimeoutError:
            classic_html = html.escape(preview, quote=False)
        if len(classic_html) > 4096:
            classic_html = html.escape(preview[:3000] + "…", quote=False)
        if self._message_id is None:
            reply = (
                ReplyParameters(message_id=self._target.reply_to, allow_sending_without_reply=True)
                if self._target.reply_to
                else None
            )
            sent: Any = await self._bot(
                SendMessage(
                    chat_id=self._target.chat_id,
                    message_thread_id=self._target.thread_id,
                    text=classic_html,
                    parse_mode="HTML",
                    reply_parameters=reply,
                    link_preview_options=LinkPreviewOptions(is_disabled=True),
                )
            )
            self._message_id = sent.message_id
            return
        await self._bot(
            EditMessageText(
                chat_id=self._target.chat_id,
                message_id=self._message_id,
                text=classic_html,
                parse_mode="HTML",
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
        )

    async def remove(self) -> None:
        """The final message is out: the placeholder goes."""
        await self.flush()
        if self._message_id is not None:
            with contextlib.suppress(TelegramAPIError):
                await self._bot(DeleteMessage(chat_id=self._target.chat_id, message_id=self._message_id))
