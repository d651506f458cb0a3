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
)


class FeedbackRecords(Protocol):
    async def save_answer(self, answer_id: str, record: dict[str, Any]) -> None: ...
    async def answer(self, answer_id: str) -> dict[str, Any] | None: ...
    async def save_rating(self, chat_id: int, answer_id: str, user_id: int, row: dict[str, Any]) -> None: ...
    async def ratings(self, chat_id: int | None) -> list[dict[str, Any]]: ...
    async def claim_escalation(self, answer_id: str) -> bool: ...


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
        asked = AskedQuestion(
            chat_id=int(record["chat_id"]),
            thread_id=record["thread_id"],
            message_id=int(record["message_id"]),
            asker_id=record["asker_id"],
            asker_name=str(record["asker_name"]),
        )
        first = await self._records.claim_escalation(answer_id)
        return Escalation(question=record["question"], answer=record["answer"], asked=asked, first=first)

    async def export_csv(self, chat_id: int | None) -> tuple[bytes, int]:
        """Ratings of one chat (or all chats) as CSV that spreadsheets open with Cyrillic intact."""
        rows = sorted(await self._records.ratings(chat_id), key=lambda row: row["rated_at"])
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=EXPORT_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            cells = {
                **row,
                "rated_at": _iso(row["rated_at"]),
                "asked_at": _iso(row["asked_at"]),
                "sources": "; ".join(row["sources"]),
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


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")
