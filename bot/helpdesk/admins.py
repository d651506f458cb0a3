"""Who may manage a chat's knowledge base and settings."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol


class AdminCache(Protocol):
    async def get(self, chat_id: int, user_id: int) -> bool | None: ...
    async def put(self, chat_id: int, user_id: int, is_admin: bool) -> None: ...


class AdminDirectory:
    """Global admins (ADMIN_IDS) manage everything; a group's creator and administrators manage it.

    The Telegram lookup is passed in by the caller, so this service stays free of Telegram types;
    its answer is cached briefly because getChatMember has its own rate limits.
    """

    def __init__(self, global_admins: frozenset[int], cache: AdminCache) -> None:
        self._global_admins = global_admins
        self._cache = cache

    @property
    def global_admins(self) -> frozenset[int]:
        return self._global_admins

    def is_global_admin(self, user_id: int | None) -> bool:
        return user_id is not None and user_id in self._global_admins

    async def is_group_admin(self, chat_id: int, user_id: int, lookup: Callable[[], Awaitable[bool]]) -> bool:
        if self.is_global_admin(user_id):
            return True
        cached = await self._cache.get(chat_id, user_id)
        if cached is not None:
            return cached
        is_admin = await lookup()
        await self._cache.put(chat_id, user_id, is_admin)
        return is_admin
