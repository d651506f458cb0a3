"""👍/👎 on answers, "ask a human", and the admins' export of the ratings."""

from __future__ import annotations

import csv
import io
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from bot.rag.answering import Answer

Vote = Literal["up", "down"]

EXPORT_COLUMNS = (
    "rated_at",
    "chat_id",
    "answer_id",
    "rating",
    "rated_by_id",
    "rated_by",
    "asked_by",
    "question",
    "answer",
    "sources",
    "asked_at",
    # Issue 14: the outcome of "ask a human" on this answer.
    "human_requested_at",
    "taken_by",
    "taken_at",
    "answered_at",
)


class FeedbackRecords(Protocol):
    async def save_answer(self, answer_id: str, record: dict[str, Any]) -> None: ...
    async def answer(self, answer_id: str) -> dict[str, Any] | None: ...
    async def save_rating(self, chat_id: int, answer_id: str, user_id: int, row: dict[str, Any]) -> None: ...
    async def ratings(self, chat_id: int | None) -> list[dict[str, Any]]: ...
    async def claim_escalation(self, answer_id: str) -> bool: ...
    async def save_handoff(
        self, chat_id: int, answer_id: str, record: dict[str, Any], posts: list[tuple[int, int]]
    ) -> None: ...
    async def handoff(self, chat_id: int, answer_id: str) -> dict[str, Any] | None: ...
    async def handoff_at(self, post_chat: int, post_message: int) -> tuple[int, str] | None: ...
    async def claim_handoff(self, chat_id: int, answer_id: str, user_id: int) -> bool: ...
    async def handoffs(self, chat_id: int | None) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class AskedQuestion:
    """Who asked what, where: what "ask a human" needs to point people at the question."""

    chat_id: int
    thread_id: int | None
    message_id: int
    asker_id: int | None
    asker_name: str


@dataclass(frozen=True)
class Escalation:
    question: str
    answer: str
    asked: AskedQuestion
    first: bool  # False when somebody already asked for a human on this answer


@dataclass(frozen=True)
class HandOff:
    """A question handed to the people: where it was asked, the messages that carry it to admins
    (chat id, message id), the text those messages show, and who took it."""

    answer_id: str
    asked: AskedQuestion
    locale: str  # the asker's interface language: what the bot tells them is in it
    text: str
    posts: tuple[tuple[int, int], ...]
    taken_by_id: int | None = None
    taken_by: str | None = None


@dataclass(frozen=True)
class TakeResult:
    handoff: HandOff
    taken: bool  # False: somebody else took it first (`handoff.taken_by` names them)


class FeedbackService:
    def __init__(self, records: FeedbackRecords) -> None:
        self._records = records

    async def remember(self, answer: Answer, asked: AskedQuestion) -> str:
        """Keeps the answer for rating; returns the id its buttons carry."""
        answer_id = uuid.uuid4().hex[:16]
        await self._records.save_answer(
            answer_id,
            {
                "chat_id": asked.chat_id,
                "thread_id": asked.thread_id,
                "message_id": asked.message_id,
                "asker_id": asked.asker_id,
                "asker_name": asked.asker_name,
                "question": answer.question,
                "answer": answer.text,
                "sources": [f"{c.title} ({c.file_name})" for c in answer.citations],
                "asked_at": time.time(),
            },
        )
        return answer_id

    async def _record_in(self, answer_id: str, chat_id: int) -> dict[str, Any] | None:
        # The stored record decides where an answer lives, never the button's data: a press in
        # another chat naming this answer is treated as unknown (issue 12).
        record = await self._records.answer(answer_id)
        if record is None or int(record["chat_id"]) != chat_id:
            return None
        return record

    async def rate(self, answer_id: str, chat_id: int, user_id: int, user_name: str, vote: Vote) -> bool:
        """False when the answer is unknown (too old, never stored) or was not given in `chat_id`."""
        record = await self._record_in(answer_id, chat_id)
        if record is None:
            return False
        row = {
            "rated_at": time.time(),
            "chat_id": record["chat_id"],
            "answer_id": answer_id,
            "rating": vote,
            "rated_by_id": user_id,
            "rated_by": user_name,
            "asked_by": record["asker_name"],
            "question": record["question"],
            "answer": record["answer"],
            "sources": record["sources"],
            "asked_at": record["asked_at"],
        }
        await self._records.save_rating(int(record["chat_id"]), answer_id, user_id, row)
        return True

    async def escalate(self, answer_id: str, chat_id: int) -> Escalation | None:
        """None when the answer is unknown or was not given in `chat_id` (the button's own chat)."""
        record = await self._record_in(answer_id, chat_id)
        if record is None:
            return None
        asked = _asked(record)
        first = await self._records.claim_escalation(answer_id)
        return Escalation(question=record["question"], answer=record["answer"], asked=asked, first=first)

    async def open_handoff(
        self, escalation: Escalation, answer_id: str, locale: str, text: str, posts: list[tuple[int, int]]
    ) -> None:
        """Stores the hand-off once its messages are out; `posts` are (chat id, message id) pairs."""
        asked = escalation.asked
        record = {
            "answer_id": answer_id,
            "chat_id": asked.chat_id,
            "thread_id": asked.thread_id,
            "message_id": asked.message_id,
            "asker_id": asked.asker_id,
            "asker_name": asked.asker_name,
            "question": escalation.question,
            "answer": escalation.answer,
            "locale": locale,
            "text": text,
            "posts": [list(post) for post in posts],
            "requested_at": time.time(),
        }
        await self._records.save_handoff(asked.chat_id, answer_id, record, posts)

    async def handoff_at(self, post_chat: int, post_message: int) -> HandOff | None:
        """The hand-off that message (in a group or an admin's private chat) carries, if any."""
        found = await self._records.handoff_at(post_chat, post_message)
        if found is None:
            return None
        record = await self._records.handoff(*found)
        return None if record is None else _handoff(record)

    async def take(
        self, chat_id: int, answer_id: str, post_chat: int, post_message: int, user_id: int, name: str
    ) -> TakeResult | None:
        """The first admin to take a hand-off owns it. None when the stored record does not list
        (post_chat, post_message) as one of its messages: a button's data alone proves nothing."""
        record = await self._records.handoff(chat_id, answer_id)
        if record is None or [post_chat, post_message] not in record["posts"]:
            return None
        if not await self._records.claim_handoff(chat_id, answer_id, user_id):
            latest = await self._records.handoff(chat_id, answer_id) or record
            return TakeResult(_handoff(latest), taken=False)
        record.update(taken_by_id=user_id, taken_by=name, taken_at=time.time())
        await self._records.save_handoff(chat_id, answer_id, record, [])
        return TakeResult(_handoff(record), taken=True)

    async def mark_answered(self, handoff: HandOff) -> None:
        record = await self._records.handoff(handoff.asked.chat_id, handoff.answer_id)
        if record is not None:
            record["answered_at"] = time.time()
            await self._records.save_handoff(handoff.asked.chat_id, handoff.answer_id, record, [])

    async def export_csv(self, chat_id: int | None) -> tuple[bytes, int]:
        """Ratings of one chat (or all chats) as CSV that spreadsheets open with Cyrillic intact;
        each row also shows what became of "ask a human" on its answer. A hand-off on an answer
        nobody rated gets a row of its own."""
        rows = await self._records.ratings(chat_id)
        handoffs = {h["answer_id"]: h for h in await self._records.handoffs(chat_id)}
        rated = {row["answer_id"] for row in rows}
        rows += [_unrated(h) for h in handoffs.values() if h["answer_id"] not in rated]
        rows.sort(key=lambda row: row["rated_at"] or row["asked_at"])
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=EXPORT_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            handoff = handoffs.get(row["answer_id"], {})
            cells = {
                **row,
                "rated_at": _iso(row["rated_at"]),
                "asked_at": _iso(row["asked_at"]),
                "sources": "; ".join(row["sources"]),
                "human_requested_at": _iso(handoff.get("requested_at")),
                "taken_by": handoff.get("taken_by") or "",
                "taken_at": _iso(handoff.get("taken_at")),
                "answered_at": _iso(handoff.get("answered_at")),
            }
            writer.writerow({key: neutralise_cell(value) for key, value in cells.items()})
        # The BOM makes Excel read UTF-8; other tools ignore it.
        return ("\ufeff" + out.getvalue()).encode("utf-8"), len(rows)


# OWASP "CSV Injection": a cell starting with one of these is read as a formula by spreadsheets.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise_cell(value: object) -> object:
    """A text cell that a spreadsheet would run as a formula gets a leading single quote (OWASP's
    advice, https://owasp.org/www-community/attacks/CSV_Injection); numbers and other text pass as
    they are. The csv module does the quoting of commas, quotes and newlines."""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def _iso(timestamp: float | None) -> str:
    if not timestamp:
        return ""
    return datetime.fromtimestamp(timestamp, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def _asked(record: dict[str, Any]) -> AskedQuestion:
    """Where a stored answer (or hand-off) record's question was asked, and by whom."""
    return AskedQuestion(
        chat_id=int(record["chat_id"]),
        thread_id=record["thread_id"],
        message_id=int(record["message_id"]),
        asker_id=record["asker_id"],
        asker_name=str(record["asker_name"]),
    )


def _handoff(record: dict[str, Any]) -> HandOff:
    return HandOff(
        answer_id=str(record["answer_id"]),
        asked=_asked(record),
        locale=str(record["locale"]),
        text=str(record["text"]),
        posts=tuple((int(chat), int(message)) for chat, message in record["posts"]),
        taken_by_id=record.get("taken_by_id"),
        taken_by=record.get("taken_by"),
    )


def _unrated(handoff: dict[str, Any]) -> dict[str, Any]:
    """An export row for a hand-off on an answer that has no rating."""
    return {
        "rated_at": None,
        "chat_id": handoff["chat_id"],
        "answer_id": handoff["answer_id"],
        "rating": "",
        "rated_by_id": "",
        "rated_by": "",
        "asked_by": handoff["asker_name"],
        "question": handoff["question"],
        "answer": handoff["answer"],
        "sources": [],
        "asked_at": handoff["requested_at"],
    }
