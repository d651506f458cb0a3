"""What /start and /help show about the knowledge base a chat actually reads: no model call."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from bot.domain import DocumentInfo, scopes_for_chat
from bot.helpdesk.preferences import ChatPreferencesService

_TOPICS = 3


class DocumentLister(Protocol):
    async def documents(self, scopes: list[str]) -> list[DocumentInfo]: ...


@dataclass(frozen=True)
class KnowledgeOverview:
    """The state of a chat's knowledge base: `documents` readable, the `latest` upload (None when
    empty) and up to three distinct document titles to suggest as topics, newest first."""

    documents: int
    latest: DocumentInfo | None
    topics: list[str]


class OnboardingService:
    def __init__(self, lister: DocumentLister, preferences: ChatPreferencesService) -> None:
        self._lister = lister
        self._preferences = preferences

    async def overview(self, chat_id: int) -> KnowledgeOverview:
        """What this chat can read: its own base, plus the global one unless its /settings turned it off."""
        preferences = await self._preferences.get(chat_id)
        docs = await self._lister.documents(scopes_for_chat(chat_id, include_global=preferences.use_global))
        topics: list[str] = []
        for doc in docs:  # newest first
            if doc.title not in topics:
                topics.append(doc.title)
            if len(topics) == _TOPICS:
                break
        return KnowledgeOverview(documents=len(docs), latest=docs[0] if docs else None, topics=topics)
