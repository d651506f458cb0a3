"""Finds the chunks a question needs, inside the scopes the asking chat may read.

Hybrid search: the e5 vector finds paraphrases, the BM25 vector finds exact terms, codes and (through
stemming) other forms of the same word; Qdrant fuses both lists in one query. A short follow-up
("а для электроники?") is searched together with the question it follows, without asking the model.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from bot.concurrency import WorkPool
from bot.domain import Fusion, SearchQuery, SparseVector, StoredChunk, Turn, scopes_for_chat
from bot.rag.context import ContextBudget, assemble_context

RetrievalMode = Literal["hybrid", "dense", "sparse"]

_WORD = re.compile(r"\w+")
# Chunks fetched per document shown: merging neighbours and dropping duplicates needs spares.
_CANDIDATES_PER_DOCUMENT = 2


class QueryEmbedder(Protocol):
    async def embed_query(self, text: str) -> list[float]: ...


class SparseQueryEmbedder(Protocol):
    def embed_query(self, text: str, context: str = "", context_weight: float = 0.5) -> SparseVector: ...


class ChunkSearch(Protocol):
    async def search(self, query: SearchQuery, scopes: Sequence[str], limit: int) -> list[StoredChunk]: ...


@dataclass(frozen=True)
class RetrievalConfig:
    mode: RetrievalMode = "hybrid"
    fusion: Fusion = "dbsf"
    # A question of at most this many words that follows earlier ones is searched with them.
    followup_max_words: int = 6
    # Weight of the earlier questions' terms in the sparse query (the new question's terms weigh 1).
    context_weight: float = 0.5
    budget: ContextBudget = field(default_factory=ContextBudget)


@dataclass(frozen=True)
class Retrieval:
    """What a question's search found, and how long each stage took (seconds)."""

    chunks: list[StoredChunk]
    embed_s: float  # the dense and the sparse query vector, made side by side
    search_s: float  # the store's query plus assembling the documents


@dataclass(frozen=True)
class FollowUpQuery:
    text: str  # what the dense vector embeds
    context: str  # earlier questions, added to the sparse query at a lower weight ("" for none)


def follow_up_query(question: str, history: Sequence[Turn], max_words: int) -> FollowUpQuery:
    """A short question borrows the user's earlier questions, back to the last self-contained one.

    "Сколько дней на возврат?" → "а для электроники?" searches both; a long question stands alone,
    so changing the subject is never polluted by the previous one.
    """
    if _word_count(question) > max_words:
        return FollowUpQuery(question, "")
    earlier: list[str] = []
    for turn in reversed(history):
        if turn.role != "user":
            continue
        earlier.insert(0, turn.content)
        if _word_count(turn.content) > max_words or len(earlier) == 2:
            break
    if not earlier:
        return FollowUpQuery(question, "")
    context = "\n".join(earlier)
    return FollowUpQuery(f"{context}\n{question}", context)


class Retriever:
    def __init__(
        self,
        embedder: QueryEmbedder,
        sparse: SparseQueryEmbedder,
        store: ChunkSearch,
        config: RetrievalConfig,
        *,
        cpu: WorkPool | None = None,
    ) -> None:
        """`cpu`: where the BM25 query vector is made (pure Python); None makes it on the calling thread."""
        self._embedder = embedder
        self._sparse = sparse
        self._store = store
        self._config = config
        self._cpu = cpu

    async def retrieve(
        self,
        question: str,
        chat_id: int | None,
        history: Sequence[Turn] = (),
        *,
        include_global: bool = True,
    ) -> list[StoredChunk]:
        return (await self.search(question, chat_id, history, include_global=include_global)).chunks

    async def search(
        self,
        question: str,
        chat_id: int | None,
        history: Sequence[Turn] = (),
        *,
        include_global: bool = True,
    ) -> Retrieval:
        """`retrieve` with the time each stage took."""
        config = self._config
        query = follow_up_query(question, history, config.followup_max_words)
        started = time.perf_counter()
        # The two vectors are made at once: e5 on the embedding pool, BM25 on the CPU pool.
        dense, sparse = await asyncio.gather(
            self._embedder.embed_query(query.text) if config.mode != "sparse" else _nothing(),
            self._sparse_query(question, query.context) if config.mode != "dense" else _nothing(),
        )
        embedded = time.perf_counter()
        # The scope filter runs inside Qdrant's query: other chats' chunks never leave the store.
        candidates = await self._store.search(
            SearchQuery(dense=dense, sparse=sparse, fusion=config.fusion),
            scopes_for_chat(chat_id, include_global=include_global),
            config.budget.max_documents * _CANDIDATES_PER_DOCUMENT,
        )
        chunks = assemble_context(candidates, config.budget)
        return Retrieval(chunks, embed_s=embedded - started, search_s=time.perf_counter() - embedded)

    async def _sparse_query(self, question: str, context: str) -> SparseVector:
        weight = self._config.context_weight
        if self._cpu is None:
            return self._sparse.embed_query(question, context, weight)
        return await self._cpu.run(self._sparse.embed_query, question, context, weight)


async def _nothing() -> None:
    return None


def _word_count(text: str) -> int:
    return len(_WORD.findall(text))
