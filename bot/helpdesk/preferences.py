"""Per-chat preferences: read for every answer, changed by the chat's admins through /settings."""

from __future__ import annotations

from typing import Literal, Protocol, get_args

from bot.domain import AnswerLanguage, ChatPreferences

ToggleName = Literal["show_sources", "reply_not_found", "use_global", "stream_in_groups"]


class PreferencesStore(Protocol):
    async def get(self, chat_id: int) -> ChatPreferences: ...
    async def update(self, chat_id: int, changes: dict[str, str | bool]) -> ChatPreferences: ...


class ChatPreferencesService:
    def __init__(self, store: PreferencesStore) -> None:
        self._store = store

    async def get(self, chat_id: int) -> ChatPreferences:
        return await self._store.get(chat_id)

    async def set_language(self, chat_id: int, language: str) -> ChatPreferences:
        if language not in get_args(AnswerLanguage):
            raise ValueError(f"unknown answer language {language!r}")
        return await self._store.update(chat_id, {"language": language})

    async def toggle(self, chat_id: int, name: str) -> ChatPreferences:
        if name not in get_args(ToggleName):
            raise ValueError(f"unknown setting {name!r}")
        current = await self._store.get(chat_id)
        return await self._store.update(chat_id, {name: not getattr(current, name)})

    async def set_flag(self, chat_id: int, name: str, enabled: bool) -> ChatPreferences:
        """Sets an on/off setting to a chosen value (issue 14: /settings offers choices, not flips).

        Raises ValueError for an unknown setting name."""
        if name not in get_args(ToggleName):
            raise ValueError(f"unknown setting {name!r}")
        return await self._store.update(chat_id, {name: enabled})
