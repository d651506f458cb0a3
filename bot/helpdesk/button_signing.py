"""Signed button data: a button pressed in a chat carries proof that the bot made it for that chat.

Telegram lets a client send any `callback_data` with a press (the Bot API never checks it against the
buttons that were sent), so the data carries no authority by itself. Each button's data ends in a
truncated HMAC-SHA256 over the chat id and the rest of the data; a press whose tag does not match the
chat it arrives from is refused before any handler runs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

# 10 bytes = 80 bits of tag: far beyond guessing through Telegram's rate limits, and short enough
# for Telegram's 64-byte callback_data limit (14 characters in base64url).
_TAG_BYTES = 10
_DERIVATION_LABEL = b"kb-bot/callback-data/v1"


class ButtonSigner:
    """Signs and checks button data for a chat. `key` is a secret of any length."""

    def __init__(self, key: bytes) -> None:
        if not key:
            raise ValueError("the signing key must not be empty")
        self._key = key

    @classmethod
    def from_secrets(cls, callback_secret: str | None, bot_token: str) -> ButtonSigner:
        """CALLBACK_SECRET when set; otherwise a key derived from the bot token (HMAC with a label),
        so a new token also retires every old button."""
        if callback_secret:
            return cls(callback_secret.encode())
        return cls(hmac.new(bot_token.encode(), _DERIVATION_LABEL, hashlib.sha256).digest())

    def tag(self, chat_id: int, body: str) -> str:
        """The tag for `body` (the data before the tag) shown in chat `chat_id`: 14 base64url chars."""
        mac = hmac.new(self._key, f"{chat_id}\x00{body}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac[:_TAG_BYTES]).decode().rstrip("=")

    def sign(self, chat_id: int, body: str) -> str:
        """`body` + its tag. `body` must end with the data's separator (the empty tag field)."""
        return body + self.tag(chat_id, body)

    def verify(self, chat_id: int, data: str, separator: str = ":") -> bool:
        """True when `data` ends in the tag this bot made for `chat_id`; constant-time comparison."""
        cut = data.rfind(separator)
        if cut < 0:
            return False
        body, tag = data[: cut + 1], data[cut + 1 :]
        return hmac.compare_digest(tag, self.tag(chat_id, body))
