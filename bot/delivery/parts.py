"""Final messages as Bot API calls: each part a primary method plus ordered fallbacks.

`answer_parts` is the one place that decides what an answer looks like on the wire, so the same
parts can be sent directly (`bot.delivery.sender`) or handed to a persistent outbox that retries them.
A fallback is an alternative for the whole part, and may take several messages: a 20,000-character
rich message becomes five classic ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiogram.methods import SendMessage, SendRichMessage, TelegramMethod
from aiogram.types import (
    EphemeralMessageParameters,
    InlineKeyboardMarkup,
    InputRichMessage,
    LinkPreviewOptions,
    ReplyParameters,
)

from bot.delivery.blocks import reference_blocks
from bot.delivery.outbox import Part
from bot.delivery.target import Target
from bot.render.answer import AnswerChunk, RenderedAnswer, SourceLabels, SourceLine, render_answer
from bot.render.links import LinkPolicy

Method = TelegramMethod[Any]


# `primary` is tried first; on a 400 each alternative in `fallbacks` is tried in order. The same type
# the outbox keeps, so a final answer can be sent directly or handed to it unchanged.
OutgoingPart = Part


def _reply(target: Target, first: bool) -> ReplyParameters | None:
    # Only the first message quotes the question; the rest follow it in the same thread.
    if not first or target.reply_to is None:
        return None
    return ReplyParameters(message_id=target.reply_to, allow_sending_without_reply=True)


def _classic(
    target: Target, texts: list[str], *, html: bool, first: bool, markup: InlineKeyboardMarkup | None
) -> tuple[Method, ...]:
    methods: list[Method] = []
    for index, text in enumerate(texts):
        methods.append(
            SendMessage(
                chat_id=target.chat_id,
                message_thread_id=target.thread_id,
                text=text,
                parse_mode="HTML" if html else None,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
                reply_parameters=_reply(target, first and index == 0),
                reply_markup=markup if index == len(texts) - 1 else None,
            )
        )
    return tuple(methods)


def _rich(
    target: Target, message: InputRichMessage, *, first: bool, markup: InlineKeyboardMarkup | None
) -> Method:
    return SendRichMessage(
        chat_id=target.chat_id,
        message_thread_id=target.thread_id,
        rich_message=message,
        reply_parameters=_reply(target, first),
        reply_markup=markup,
    )


def _html_message(chunk: AnswerChunk) -> InputRichMessage:
    # Entity detection off: an address the renderer left as text must not become a link.
    return InputRichMessage(html=chunk.rich, skip_entity_detection=True)


def _blocks_message(chunk: AnswerChunk) -> InputRichMessage | None:
    """The chunk as blocks with native references, or None when the HTML form says the same.

    References exist only inside one message: a mark "[n]" links only where this chunk lists the
    sources (`chunk.sources`). In a long answer split into several rich messages, the marks in the
    chunks before the one holding the source list stay plain text "[n]" (those chunks go as HTML).
    """
    if not chunk.sources:
        return None
    blocks = reference_blocks(chunk.rich, chunk.sources)
    if blocks is None:
        return None
    return InputRichMessage(blocks=blocks, skip_entity_detection=True)


@dataclass(frozen=True)
class AnswerToRender:
    """What the final message is made from: the model's Markdown (with reference marks), its source lines
    and their labels, which links may stay live, and the note under it (stopped, cut off) if any."""

    markdown: str
    sources: list[SourceLine]
    labels: SourceLabels
    policy: LinkPolicy
    note: str | None = None


def rendered_parts(
    answer: AnswerToRender, target: Target, *, rich: bool, markup: InlineKeyboardMarkup | None = None
) -> list[OutgoingPart]:
    """`render_answer` then `answer_parts`: the final answer from the model's Markdown to its parts, in one
    call, so it crosses to a render process and back once (`AnswerDelivery.final_parts`)."""
    rendered = render_answer(
        answer.markdown, answer.sources, answer.labels, policy=answer.policy, note=answer.note
    )
    return answer_parts(rendered, target, rich=rich, markup=markup)


def answer_parts(
    rendered: RenderedAnswer,
    target: Target,
    *,
    rich: bool,
    markup: InlineKeyboardMarkup | None = None,
    references: bool = True,
) -> list[OutgoingPart]:
    """The final answer's parts, in order. `markup` (👍/👎) goes under the last message.

    With `rich`: one `sendRichMessage` per chunk, falling back to classic HTML messages, then plain
    text. A chunk whose reference marks resolve to the source list it holds goes first as blocks
    (`InputRichMessage.blocks`, native references: https://core.telegram.org/bots/api#richtextreferencelink),
    then as the rich HTML, then classic, then plain. Without `rich` (the server refused rich messages
    before): classic HTML, falling back to plain text. `references=False` skips the blocks form.

    CPU: the blocks cost up to ~50 ms for a full 32K message (linear); callers on the event loop run
    this off the loop, in a render process (`AnswerDelivery.final_parts`).
    """
    parts: list[OutgoingPart] = []
    last = len(rendered.chunks) - 1
    for index, chunk in enumerate(rendered.chunks):
        first = index == 0
        chunk_markup = markup if index == last else None
        classic = _classic(target, chunk.classic, html=True, first=first, markup=chunk_markup)
        plain = _classic(target, chunk.plain, html=False, first=first, markup=chunk_markup)
        if rich:
            as_html = _rich(target, _html_message(chunk), first=first, markup=chunk_markup)
            blocks = _blocks_message(chunk) if references else None
            if blocks is None:
                parts.append(Part(as_html, [list(classic), list(plain)]))
            else:
                # Native references first; the same rich message as HTML ("[n]" as text) if refused.
                as_blocks = _rich(target, blocks, first=first, markup=chunk_markup)
                parts.append(Part(as_blocks, [[as_html], list(classic), list(plain)]))
        else:
            # Classic messages of one chunk go one by one; each has its own plain-text fallback.
            parts.extend(Part(method, [[text]]) for method, text in zip(classic, plain, strict=True))
    return parts


def notice_part(target: Target, text: str, *, ephemeral: bool) -> OutgoingPart:
    """A short notice to the asker; in a group only they see it, or, if refused, a normal reply."""
    reply = _reply(target, first=True)
    plain = SendMessage(
        chat_id=target.chat_id, message_thread_id=target.thread_id, text=text, reply_parameters=reply
    )
    if not ephemeral:
        return Part(plain)
    only_asker = SendMessage(
        chat_id=target.chat_id,
        message_thread_id=target.thread_id,
        text=text,
        reply_parameters=reply,
        ephemeral_message_parameters=EphemeralMessageParameters(receiver_user_id=target.user_id),
    )
    return Part(only_asker, [[plain]])
