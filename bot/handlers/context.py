"""Small facts about an incoming message that several routers need."""

from __future__ import annotations

from aiogram.types import Message

from bot.config import Settings


def is_admin(message: Message, settings: Settings) -> bool:
    return message.from_user is not None and message.from_user.id in settings.admin_ids


def thread_of(message: Message) -> int | None:
    """The forum topic a message belongs to; history and replies stay inside it."""
    return message.message_thread_id if message.is_topic_message else None
