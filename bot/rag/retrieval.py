"""Finds the chunks a question needs, inside the scopes the asking chat may read.

Hybrid search: the e5 vector finds paraphrases, the BM25 vector finds exact terms, codes and (through
stemming) other forms of the same word. By default both searches run at once and are fused here
(bot/rag/fusion.py), so a BM25 hit that shares only a stray word with the question (what a question
in the other language usually has) cannot push down good e5 hits; Qdrant's own DBSF and RRF remain
a setting and run as one query. A short follow-up
("а для электроники?") is searched together with the question it follows, without asking the model.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeVar

import numpy as np
import numpy.typing as npt

from bot.concurrency import WorkPool
from bot.domain import Fusion, SearchQuery, SparseVector, StoredChunk, Turn, scopes_for_chat, search_text
from bot.rag.context import ContextBudget, assemble_context
from bot.rag.fusion import FusionInput, fuse_legs, term_coverage

RetrievalMode = Literal["hybrid", "dense", "sparse"]
# dbsf and rrf are Qdrant's own, fused inside one query; dbsf-coverage fuses the two legs here,
# weighing each sparse hit by the share of the question's terms it contains (bot/rag/fusion.py).
RetrievalFusion = Literal["dbsf", "rrf", "dbsf-coverage"]

_WORD = re.compile(r"\w+")
# Chunks fetched per document shown: merging neighbours and dropping duplicates needs spares.
CANDIDATES_PER_DOCUMENT = 2
# Candidates each leg hands to a fusion done here, as Qdrant's prefetch does (SearchQuery.prefetch_limit).
_PREFETCH = SearchQuery().prefetch_limit
# Chunks whose BM25 terms the coverage weighting keeps (~1.5 KB each): a question's sparse hits are
# mostly chunks other questions hit before, and re-deriving them was a sixth of a question's CPU.
TERMS_CACHE_CHUNKS = 4096
T = TypeVar("T")


class QueryEmbedder(Protocol):
    async def embed_query(self, text: str) -> list[float]: ...


class SparseQueryEmbedder(Protocol):
    def embed_query(self, text: str, context: str = "", context_weight: float = 0.5) -> SparseVector: ...

    def embed_passages_sync(self, texts: Sequence[str]) -> list[SparseVector]: ...


class ChunkSearch(Protocol):
    async def search(self, query: SearchQuery, scopes: Sequence[str], limit: int) -> list[StoredChunk]: ...


@dataclass(frozen=True)
class RetrievalConfig:
    mode: RetrievalMode = "hybrid"
    fusion: RetrievalFusion = "dbsf-coverage"
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
        self._terms = ChunkTerms(sparse, TERMS_CACHE_CHUNKS)

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
        scopes = scopes_for_chat(chat_id, include_global=include_global)
        limit = config.budget.max_documents * CANDIDATES_PER_DOCUMENT
        if (
            config.fusion == "dbsf"
            or config.fusion == "rrf"
            or dense is None
            or not sparse
            or not sparse.indices
        ):
            fusion: Fusion = "rrf" if config.fusion == "rrf" else "dbsf"
            candidates = await self._store.search(
                SearchQuery(dense=dense, sparse=sparse, fusion=fusion), scopes, limit
            )
        else:
            # Both legs at once; the fusion runs here so it can look at what each sparse hit matched.
            dense_hits, sparse_hits = await asyncio.gather(
                self._store.search(SearchQuery(dense=dense), scopes, max(_PREFETCH, limit)),
                self._store.search(SearchQuery(sparse=sparse), scopes, max(_PREFETCH, limit)),
            )
            coverage = await self._off_loop(self._coverage, sparse, sparse_hits)
            candidates = fuse_legs(FusionInput(dense_hits, sparse_hits, limit, coverage))
        chunks = assemble_context(candidates, config.budget)
        return Retrieval(chunks, embed_s=embedded - started, search_s=time.perf_counter() - embedded)

    async def _sparse_query(self, question: str, context: str) -> SparseVector:
        return await self._off_loop(self._sparse.embed_query, question, context, self._config.context_weight)

    async def _off_loop(self, work: Callable[..., T], *args: Any) -> T:
        # BM25 is pure Python: on the CPU pool when there is one, else on asyncio's default executor.
        if self._cpu is None:
            return await asyncio.to_thread(work, *args)
        return await self._cpu.run(work, *args)

    def _coverage(self, query: SparseVector, hits: Sequence[StoredChunk]) -> list[float]:
        # The chunks' terms are re-derived from the text they were indexed by (~1 ms a chunk, so they
        # are kept for the chunks hit most): the store returns no vectors, and this keeps the fusion
        # independent of the engine.
        terms = self._terms.of([search_text(c.title, c.section, c.text) for c in hits])
        return [term_coverage(query, set(t.tolist())) for t in terms]


class ChunkTerms:
    """The BM25 term ids of chunk texts, the `capacity` most recently used kept (LRU).

    Keyed by a digest of the text, so an edited chunk is a new key and the texts themselves are not
    kept. Thread-safe: the CPU pool runs several questions' coverage at once.
    """

    def __init__(self, sparse: SparseQueryEmbedder, capacity: int) -> None:
        self._sparse = sparse
        self._capacity = capacity
        self._kept: OrderedDict[bytes, npt.NDArray[np.int64]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._kept)

    def of(self, texts: Sequence[str]) -> list[npt.NDArray[np.int64]]:
        """One array of term ids per text, in order; the missing ones are encoded in one call."""
        keys = [hashlib.blake2b(t.encode("utf-8"), digest_size=16).digest() for t in texts]
        found: dict[bytes, npt.NDArray[np.int64]] = {}
        with self._lock:
            for key in keys:
                terms = self._kept.get(key)
                if terms is not None:
                    self._kept.move_to_end(key)
                    found[key] = terms
        missing = [i for i, key in enumerate(keys) if key not in found]
        if missing:
            vectors = self._sparse.embed_passages_sync([texts[i] for i in missing])
            with self._lock:
                for i, vector in zip(missing, vectors, strict=True):
                    terms = np.asarray(vector.indices, dtype=np.int64)
                    found[keys[i]] = terms
                    self._kept[keys[i]] = terms
                while len(self._kept) > self._capacity:
                    self._kept.popitem(last=False)
        return [found[key] for key in keys]


async def _nothing() -> None:
    return None


def _word_count(text: str) -> int:
    return len(_WORD.findall(text))
