"""Finds the chunks a question needs, inside the scopes the asking chat may read.

Hybrid search: the e5 vector finds paraphrases, the BM25 vector finds exact terms, codes and (through
stemming) other forms of the same word. By default both searches run at once and are fused here
(bot/rag/fusion.py), so a BM25 hit that shares only a stray word with the question (what a question
in the other language usually has) cannot push down good e5 hits; Qdrant's own DBSF and RRF remain
a setting and run as one query. A short follow-up
("а для электроники?") is searched together with the question it follows, without asking the model.
A question in the other language than some of the scope's documents is also searched translated
(bot/rag/translation.py), and the legs of both queries are fused together.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeVar

import numpy as np
import numpy.typing as npt
from cachetools import TTLCache

from bot.concurrency import WorkPool
from bot.cpu import run_cpu_on
from bot.domain import Fusion, SearchQuery, SparseVector, StoredChunk, Turn, scopes_for_chat, search_text
from bot.rag.context import ContextBudget, assemble_context
from bot.rag.fusion import FusionInput, fuse_queries, term_coverage
from bot.rag.language import Language, detect_language

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
# A question is also searched translated only when less than this share of the scope's chunks are in
# its own language. In a base of both languages, the translation pulls up the other language's copy of
# a text over the asker's own (XQuAD replica, README: ru recall@1 0.944 → 0.661), and e5 finds the
# asker's language well; where the documents are (nearly) all in the other language, it lifts recall@6
# from 0.95 to 0.995 with a perfect translation.
TRANSLATE_BELOW_OWN_SHARE = 1 / 3
# How long a scope's chunk counts per language are reused (s): the share changes only with uploads.
LANGUAGE_COUNTS_TTL_S = 60.0
# (text, target language) -> the text translated, or None when no translation could be had.
Translate = Callable[[str, Language], Awaitable[str | None]]


class QueryEmbedder(Protocol):
    async def embed_query(self, text: str) -> list[float]: ...


class SparseQueryEmbedder(Protocol):
    def embed_query(self, text: str, context: str = "", context_weight: float = 0.5) -> SparseVector: ...

    def embed_passages_sync(self, texts: Sequence[str]) -> list[SparseVector]: ...


class ChunkSearch(Protocol):
    changes: int  # documents published or deleted through this store so far

    async def search(self, query: SearchQuery, scopes: Sequence[str], limit: int) -> list[StoredChunk]: ...

    async def count_languages(self, scopes: Sequence[str]) -> dict[str, int]: ...


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
    # The model's translation of the question (0: none asked for); it runs beside the embedding and
    # the first search, so it overlaps them, and only what it outlasts them by lengthens search_s.
    translate_s: float = 0.0
    translated: str | None = None  # the question in the documents' language, when it was searched too


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
        # scopes → (the store's `changes` when counted, the counts)
        self._language_counts: TTLCache[tuple[str, ...], tuple[int, dict[str, int]]] = TTLCache(
            maxsize=4096, ttl=LANGUAGE_COUNTS_TTL_S
        )

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
        translate: Translate | None = None,
    ) -> Retrieval:
        """`retrieve` with the time each stage took.

        With `translate`, a question in one language over a scope whose chunks are mostly in the
        other (TRANSLATE_BELOW_OWN_SHARE) is also searched in that language (the translation asked
        for while the question's own vectors are made), and the legs of both queries go through one
        fusion. A failed translation (None) leaves the question searched alone.
        """
        config = self._config
        query = follow_up_query(question, history, config.followup_max_words)
        # The scope filter runs inside Qdrant's query: other chats' chunks never leave the store.
        scopes = scopes_for_chat(chat_id, include_global=include_global)
        started = time.perf_counter()
        translation = (
            asyncio.ensure_future(self._translation(query.text, scopes, translate)) if translate else None
        )
        try:
            # The two vectors are made at once: e5 on the embedding pool, BM25 on the CPU pool.
            dense, sparse = await self._vectors(question, query)
            embedded = time.perf_counter()
            limit = config.budget.max_documents * CANDIDATES_PER_DOCUMENT
            translated: str | None = None
            translate_s = 0.0
            qdrant_fusion = config.fusion in ("dbsf", "rrf")
            if qdrant_fusion and translation is not None:
                # Qdrant fuses one query's legs itself; only a translation needs the fusion done here.
                translated, translate_s = await translation
            if (qdrant_fusion and translated is None) or (
                dense is None and (not sparse or not sparse.indices)
            ):
                fusion: Fusion = "rrf" if config.fusion == "rrf" else "dbsf"
                candidates = await self._store.search(
                    SearchQuery(dense=dense, sparse=sparse, fusion=fusion), scopes, limit
                )
                chunks = await self._off_loop(assemble_context, candidates, config.budget)
                return Retrieval(
                    chunks,
                    embed_s=embedded - started,
                    search_s=time.perf_counter() - embedded,
                    translate_s=translate_s,
                )
            queries = [await self._legs(dense, sparse, scopes, limit)]
            if translation is not None and not qdrant_fusion:
                translated, translate_s = await translation
        finally:
            if translation is not None and not translation.done():
                translation.cancel()
        if translated is not None:
            searched = time.perf_counter()
            dense_t, sparse_t = await self._vectors(translated, FollowUpQuery(translated, ""))
            embedded += time.perf_counter() - searched  # its vectors count as embedding, not search
            queries.append(await self._legs(dense_t, sparse_t, scopes, limit))
        chunks = await self._off_loop(self._context, queries)
        return Retrieval(
            chunks,
            embed_s=embedded - started,
            search_s=time.perf_counter() - embedded,
            translate_s=translate_s,
            translated=translated,
        )

    async def _vectors(
        self, question: str, query: FollowUpQuery
    ) -> tuple[list[float] | None, SparseVector | None]:
        config = self._config
        dense, sparse = await asyncio.gather(
            self._embedder.embed_query(query.text) if config.mode != "sparse" else _nothing(),
            self._sparse_query(question, query.context) if config.mode != "dense" else _nothing(),
        )
        return dense, sparse

    async def _legs(
        self, dense: list[float] | None, sparse: SparseVector | None, scopes: Sequence[str], limit: int
    ) -> _Legs:
        """Both legs of one query at once."""
        wanted = max(_PREFETCH, limit)
        dense_hits, sparse_hits = await asyncio.gather(
            self._store.search(SearchQuery(dense=dense), scopes, wanted) if dense is not None else _no_hits(),
            self._store.search(SearchQuery(sparse=sparse), scopes, wanted)
            if sparse is not None and sparse.indices
            else _no_hits(),
        )
        return _Legs(dense_hits, sparse_hits, sparse, limit)

    def _context(self, queries: Sequence[_Legs]) -> list[StoredChunk]:
        """The prompt's chunks from the legs of one or more queries: each sparse hit's term coverage,
        the fusion, then the context assembly. Pure Python, so it runs off the event loop, in one hop."""
        inputs = [
            FusionInput(
                q.dense_hits,
                q.sparse_hits,
                q.limit,
                self._coverage(q.sparse, q.sparse_hits) if q.sparse is not None and q.sparse_hits else [],
            )
            for q in queries
        ]
        return assemble_context(fuse_queries(inputs), self._config.budget)

    async def _translation(
        self, text: str, scopes: Sequence[str], translate: Translate
    ) -> tuple[str | None, float]:
        """The question in the other language and the seconds it took, when the scope's chunks are
        mostly in that language; (None, 0.0) when they are not or no translation came."""
        language = detect_language(text)
        target: Language = "en" if language == "ru" else "ru"
        counts = await self._languages(scopes)
        own, other = counts.get(language, 0), counts.get(target, 0)
        if not other or own >= TRANSLATE_BELOW_OWN_SHARE * (own + other):
            return None, 0.0
        started = time.perf_counter()
        translated = await translate(text, target)
        return translated, time.perf_counter() - started

    async def _languages(self, scopes: Sequence[str]) -> dict[str, int]:
        # Two counts in the store for every question, for a share that moves only with uploads: kept
        # LANGUAGE_COUNTS_TTL_S seconds per scope set (not an empty scope's: its first upload counts now),
        # and only until a document is published or deleted here (one on another replica shows within
        # the TTL).
        key = tuple(scopes)
        changes = self._store.changes
        kept = self._language_counts.get(key)
        if kept is not None and kept[0] == changes:
            return kept[1]
        counts = await self._store.count_languages(scopes)
        if any(counts.values()):
            self._language_counts[key] = (changes, counts)
        return counts

    async def _sparse_query(self, question: str, context: str) -> SparseVector:
        return await self._off_loop(self._sparse.embed_query, question, context, self._config.context_weight)

    async def _off_loop(self, work: Callable[..., T], *args: Any) -> T:
        # BM25 is pure Python: on the CPU pool when there is one, else on asyncio's default executor.
        return await run_cpu_on(self._cpu, work, *args)

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


@dataclass(frozen=True)
class _Legs:
    """One query's hits from each leg, before the fusion."""

    dense_hits: list[StoredChunk]
    sparse_hits: list[StoredChunk]
    sparse: SparseVector | None  # the query's sparse vector, for each sparse hit's term coverage
    limit: int


async def _nothing() -> None:
    return None


async def _no_hits() -> list[StoredChunk]:
    return []


def _word_count(text: str) -> int:
    return len(_WORD.findall(text))
