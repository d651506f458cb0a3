"""A Bot API session that records every request and answers like Telegram, with no network.

The same idea as aiogram's own test suite: handlers run for real through `dp.feed_update`, and the
test asserts on the exact requests the bot made.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import UTC, datetime
from typing import Any, cast

from aiogram import Bot
from aiogram.client.session.base import BaseSession
from aiogram.methods import EditMessageText, GetMe, SendMessage, SendRichMessage, TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import Chat, Message, User

from tests.support.rich_blocks import read_blocks

BOT_USER = User(id=42, is_bot=True, first_name="KB Bot", username="kb_test_bot")


def _text_of(method: SendMessage | EditMessageText | SendRichMessage) -> str:
    if isinstance(method, SendRichMessage):
        rich = method.rich_message
        if rich.blocks is not None:
            # Checked as Telegram would, and written as our renderer writes the HTML form.
            return read_blocks([b.model_dump(mode="json", exclude_none=True) for b in rich.blocks]).html
        return rich.html or rich.markdown or ""
    return method.text or ""


class RecordingSession(BaseSession):
    def __init__(self) -> None:
        super().__init__()
        self.requests: list[TelegramMethod[Any]] = []
        self._message_id = 1000

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        timeout: int | None = None,  # noqa: ASYNC109 - aiogram's BaseSession signature
    ) -> TelegramType:
        self.requests.append(method)
        return cast(TelegramType, self._result(method))

    def _result(self, method: TelegramMethod[Any]) -> Any:
        if isinstance(method, GetMe):
            return BOT_USER
        if isinstance(method, SendMessage | EditMessageText | SendRichMessage):
            self._message_id += 1
            chat_id = int(method.chat_id or 0)
            return Message(
                message_id=self._message_id,
                date=datetime.now(tz=UTC),
                chat=Chat(id=chat_id, type="private" if chat_id > 0 else "supergroup"),
                from_user=BOT_USER,
                text=_text_of(method),
            )
        return True

    def sent_texts(self) -> list[str]:
        """Texts of sent and edited messages; a rich message's HTML."""
        return [
            _text_of(m)
            for m in self.requests
            if isinstance(m, SendMessage | EditMessageText | SendRichMessage)
        ]

    async def stream_content(
        self,
        url: str,
        headers: dict[str, Any] | None = None,
        timeout: int = 30,  # noqa: ASYNC109 - aiogram's BaseSession signature
        chunk_size: int = 65536,
        raise_for_status: bool = True,
    ) -> AsyncGenerator[bytes, None]:
        # Handler tests never download; the e2e tests cover files through a real HTTP server.
        if url:
            raise AssertionError(f"unexpected file download in a handler test: {url}")
        yield b""

    async def close(self) -> None:
        return None
