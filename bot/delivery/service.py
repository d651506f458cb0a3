"""The delivery service handlers talk to: one session per question, from "in line" to the final answer.

A handler opens a session for its target, passes `session.on_delta` and `session.queued` to the
question desk, and hands the outcome to `session.finish`. Drafts, placeholders, ephemeral notices,
rich or classic messages and their fallbacks all stay in here.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.methods import DeleteEphemeralMessage, DeleteMessage
from aiogram.types import InlineKeyboardMarkup

from bot.concurrency import ProcessPool, WorkPool
from bot.cpu import run_cpu_within
from bot.delivery.outbox import Delivery, Outbox
from bot.delivery.parts import AnswerToRender, OutgoingPart, answer_parts, notice_part, rendered_parts
from bot.delivery.sender import RichSupport, send_part, send_parts
from bot.delivery.streaming import DraftStream, PlaceholderStream, StopSignals
from bot.delivery.target import Target
from bot.rag.answering import Answer
from bot.render.answer import (
    SourceLabels,
    SourceLine,
    draft_html,
    escaped_answer,
)
from bot.render.links import LinkPolicy

log = logging.getLogger(__name__)
R = TypeVar("R")


@dataclass(frozen=True)
class DeliveryConfig:
    """Settings: `STREAM_INTERVAL_MS`, `GROUP_STREAM_INTERVAL_S`, `RENDER_TIMEOUT_S`, `ANSWER_LINKS`,
    `RICH_MESSAGES`."""

    stream_interval_s: float = 0.4
    group_stream_interval_s: float = 3.0
    render_timeout_s: float = 2.0
    links: bool = True
    rich_messages: bool = True


@dataclass(frozen=True)
class AnswerTexts:
    """Answer-side texts in the answer's language (the handler translates them)."""

    sources: SourceLabels
    stopped: str  # "⏹ Stopped: the answer is incomplete."
    not_found: str
    cut_off: str = ""  # "✂️ The answer was cut off…": pass 2 stopped at max_tokens (issue 12)


class AnswerDelivery:
    """Per process: which path works (rich or classic), the stop buttons pressed, the settings."""

    def __init__(
        self,
        config: DeliveryConfig | None = None,
        outbox: Outbox | None = None,
        render: WorkPool | ProcessPool | None = None,
    ) -> None:
        """With `outbox`, final answers are kept until Telegram accepted them (retried, resumed after a
        restart); without, they are sent directly (tests, benchmarks). `render`: where drafts and answers
        are rendered, the process's render processes (`Pools.render`) in the bot; without it, a thread of
        asyncio's default executor."""
        self.config = config or DeliveryConfig()
        self.render_pool = render
        self.outbox = outbox
        if outbox is not None and outbox.rich is None:
            outbox.rich = RichSupport(enabled=self.config.rich_messages)
        rich = outbox.rich if outbox is not None else None
        self.rich = rich if isinstance(rich, RichSupport) else RichSupport(enabled=self.config.rich_messages)
        self.stops = StopSignals()

    def session(self, bot: Bot, target: Target, *, queued_text: str = "") -> AnswerSession:
        """`queued_text`: the "you are in line" notice, in the asker's language."""
        return AnswerSession(self, bot, target, queued_text)

    async def final_parts(
        self, answer: AnswerToRender, target: Target, markup: InlineKeyboardMarkup | None
    ) -> list[OutgoingPart]:
        """The final answer rendered and made into its parts (`bot.delivery.parts.rendered_parts`) off the
        event loop, in one round trip to a render process (native references mean converting the rich HTML
        to blocks). Past `render_timeout_s` (or if the render process died) the text goes out escaped,
        without native references."""
        rich = self.rich.usable
        try:
            return await self.run_cpu(
                functools.partial(rendered_parts, answer, target, rich=rich, markup=markup)
            )
        except TimeoutError:
            log.warning("rendering a %d-character answer timed out; sending it escaped", len(answer.markdown))
            rendered = escaped_answer(answer.markdown, answer.note, answer.sources, answer.labels)
            return answer_parts(rendered, target, rich=rich, markup=markup, references=False)

    async def run_cpu(self, fn: Callable[[], R]) -> R:
        """`fn()` off the event loop (on the render pool when given); TimeoutError after `render_timeout_s`.
        On a process pool `fn` must pickle: a `functools.partial` of a module-level function."""
        if self.render_pool is not None:
            return await self.render_pool.run(fn, timeout_s=self.config.render_timeout_s)
        return await run_cpu_within(self.config.render_timeout_s, fn)

    async def notice(self, bot: Bot, target: Target, text: str) -> Any:
        """A notice for the asker alone: ephemeral in a group (a normal reply if refused)."""
        [sent, *_] = await send_part(bot, notice_part(target, text, ephemeral=not target.private), self.rich)
        return sent

    async def retract(self, bot: Bot, target: Target, sent: Any) -> None:
        """Removes a notice `notice` sent (ephemeral or not), e.g. "in line" once the answer is there."""
        with contextlib.suppress(TelegramAPIError):
            if getattr(sent, "ephemeral_message_id", None):
                await bot(
                    DeleteEphemeralMessage(
                        chat_id=target.chat_id,
                        receiver_user_id=target.user_id,
                        ephemeral_message_id=sent.ephemeral_message_id,
                    )
                )
            elif getattr(sent, "message_id", None):
                await bot(DeleteMessage(chat_id=target.chat_id, message_id=sent.message_id))


class AnswerSession:
    """One question's delivery: the optional stream, the "in line" notice and the final answer."""

    def __init__(self, delivery: AnswerDelivery, bot: Bot, target: Target, queued_text: str) -> None:
        self._queued_text = queued_text
        self._delivery = delivery
        self._bot = bot
        self._target = target
        self._queued: Any = None
        self._stream: DraftStream | PlaceholderStream | None = None
        self._stop_event: Any = None
        self._draft_id: int | None = None

    @property
    def first_shown_at(self) -> float | None:
        """When the first streamed text was accepted by Telegram (monotonic), for the benchmark."""
        return self._stream.first_shown_at if self._stream is not None else None

    async def on_delta(self, text: str) -> bool:
        """Streams the text so far; returns False once the user pressed stop."""
        config = self._delivery.config
        if self._stream is None:
            if self._target.private:
                self._draft_id, self._stop_event = self._delivery.stops.open(self._target.chat_id)
                self._stream = DraftStream(
                    self._bot,
                    self._target,
                    self._delivery.rich,
                    self._render_draft,
                    draft_id=self._draft_id,
                    interval_s=config.stream_interval_s,
                )
            else:
                self._stream = PlaceholderStream(
                    self._bot,
                    self._target,
                    self._render_draft,
                    interval_s=config.group_stream_interval_s,
                )
            await self._clear_queued()
        if self._stop_event is not None and self._stop_event.is_set():
            return False
        if text.strip():
            self._stream.offer(text)
        return True

    async def _render_draft(self, text: str, rich: bool) -> str:
        return await self._delivery.run_cpu(functools.partial(draft_html, text, rich))

    async def queued(self) -> None:
        """ "You are in line": once per question, only to the asker; removed when the answer comes."""
        if self._queued is None:
            self._queued = await self._delivery.notice(self._bot, self._target, self._queued_text)

    async def notice(self, text: str) -> None:
        await self._delivery.notice(self._bot, self._target, text)

    async def _clear_queued(self) -> None:
        sent, self._queued = self._queued, None
        if sent is not None:
            await self._delivery.retract(self._bot, self._target, sent)

    async def close(self) -> None:
        """Ends the stream and the notice without an answer (an error, a refusal)."""
        await self._end_stream()
        await self._clear_queued()

    async def _end_stream(self) -> None:
        if self._stream is not None:
            await self._stream.flush()
        if self._draft_id is not None:
            self._delivery.stops.close(self._target.chat_id, self._draft_id)

    async def finish(
        self,
        answer: Answer,
        texts: AnswerTexts,
        *,
        show_sources: bool,
        markup: InlineKeyboardMarkup | None,
        receipt: dict[str, Any] | None = None,
    ) -> list[Any]:
        """The final message(s): rich with references and sources, or classic where rich is refused.

        Through the outbox when there is one: kept until accepted, and `receipt` is handed to its
        `on_delivered` (the chat's history) only then. Raises DeliveryFailedError when Telegram refused
        every form or the delivery deadline passed."""
        await self._end_stream()
        if answer.found:
            sources = (
                [SourceLine(c.number, c.title, c.file_name, c.pages, c.sections) for c in answer.citations]
                if show_sources
                else []
            )
            policy = LinkPolicy.from_documents(
                (str(d.get("content", "")) for d in answer.documents), enabled=self._delivery.config.links
            )
            to_render = AnswerToRender(
                answer.cited_text if show_sources else answer.text,
                sources,
                texts.sources,
                policy,
                texts.stopped if answer.stopped else texts.cut_off if answer.cut_off else None,
            )
            parts = await self._delivery.final_parts(to_render, self._target, markup)
        else:
            rich = self._delivery.rich.usable
            parts = answer_parts(escaped_answer(texts.not_found), self._target, rich=rich, markup=markup)
        await self._clear_queued()  # the answer replaces "you are in line"
        outbox = self._delivery.outbox
        if outbox is None:
            sent = await send_parts(self._bot, parts, self._delivery.rich)
        else:
            sent = await outbox.deliver(
                self._bot, Delivery(chat_id=self._target.chat_id, parts=parts, receipt=receipt)
            )
        if isinstance(self._stream, PlaceholderStream):
            await self._stream.remove()
        return sent
