"""Per-chat preferences in one Redis hash per chat, shared by every bot replica."""

from __future__ import annotations

import dataclasses
from typing import Any, cast, get_args

from redis.asyncio import Redis

from bot.domain import AnswerLanguage, ChatPreferences
from bot.storage.redis_outage import or_fallback

_KEY_PREFIX = "kb:chat-settings"


def _key(chat_id: int) -> str:
    return f"{_KEY_PREFIX}:{chat_id}"


class ChatSettingsStore:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def get(self, chat_id: int) -> ChatPreferences:
        # decode_responses=True: keys and values are str. Redis down: the defaults, not a failure.
        raw = await or_fallback(self._redis.hgetall(_key(chat_id)), {}, "chat settings")
        return _from_hash(cast(dict[str, str], raw))

    async def update(self, chat_id: int, changes: dict[str, str | bool]) -> ChatPreferences:
        encoded = {name: _encode(value) for name, value in changes.items()}
        await self._redis.hset(_key(chat_id), mapping=cast(dict[Any, Any], encoded))
        return await self.get(chat_id)


def _encode(value: str | bool) -> str:
    return ("1" if value else "0") if isinstance(value, bool) else value


def _from_hash(raw: dict[str, str]) -> ChatPreferences:
    # Unknown or stale values fall back to the defaults instead of breaking the chat.
    defaults = ChatPreferences()
    language = raw.get("language", defaults.language)
    return ChatPreferences(
        language=cast(AnswerLanguage, language) if language in get_args(AnswerLanguage) else "auto",
        **{
            field.name: raw[field.name] == "1" if field.name in raw else getattr(defaults, field.name)
            for field in dataclasses.fields(ChatPreferences)
            if field.name != "language"
        },
    )
