"""Button data as the bot signs it for a chat (the tests' bot token, no CALLBACK_SECRET)."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData

from bot.handlers.keyboards import signed
from bot.helpdesk.button_signing import ButtonSigner

TEST_BOT_TOKEN = "123456:TEST-token"  # tests/conftest.py's BOT_TOKEN


def signed_for(data: CallbackData, chat_id: int) -> str:
    """What a genuine button of this bot in `chat_id` carries."""
    return signed(data, chat_id, ButtonSigner.from_secrets(None, TEST_BOT_TOKEN))
