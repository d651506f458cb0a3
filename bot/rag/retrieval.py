"""Finds the chunks a question needs, inside the scopes the asking chat may read."""

from __future__ import annotations

from typing import Protocol

from bot.domain import StoredChunk, scopes_for_chat


class QueryEmbedder(Protocol):
    async def embed_query(self, text: str) -> list[float]: ...


class ChunkSearch(Protocol):
    async def search(self, vector: list[float], scopes: list[str], limit: int) -> list[StoredChunk]: ...


class Retriever:
    def __init__(self, embedder: QueryEmbedder, store: ChunkSearch, top_k: int) -> None:
        self._embedder = embedder
        self._store = store
        self._top_k = top_k

    async def retrieve(
        self, question: str, chat_id: int | None, *, include_global: bool = True
    ) -> list[StoredChunk]:
        vector = await self._embedder.embed_query(question)
        # The scope filter runs inside Qdrant's query: other chats' chunks never leave the store.
        scopes = scopes_for_chat(chat_id, include_global=include_global)
        return await self._store.search(vector, scopes, self._top_k)
