"""Chunks and document metadata in one Qdrant collection, on either engine.

Every chunk carries its document's metadata, so the collection is the single source of truth for
documents (no second store to drift). A document's chunks are written with status "pending" and
flipped to "ready" in one payload update after the last one is stored; searches see only "ready",
so a half-ingested document is never searchable. Every write and delete names the scope as well as
the document, so a wrong or forged id can never touch another chat's chunks.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from bot.domain import DocumentInfo, SearchQuery, SparseVector, StoredChunk, search_text
from bot.rag.language import detect_language
from bot.storage.chunks.interface import (
    PENDING,
    READY,
    SPARSE_VECTOR,
    AnyOf,
    Below,
    ChunkToStore,
    CollectionBackend,
    Condition,
    Equals,
    Leg,
    StoredPoint,
)

_POINT_NAMESPACE = uuid.UUID("6f1c2d4e-8a11-4c55-9b7e-2f0c9d3a7b10")
_UPSERT_BATCH = 128
LANGUAGES = ("ru", "en")


class QdrantChunkStore:
    """`ChunkStore` over a `CollectionBackend` (Qdrant Edge in-process or a Qdrant server)."""

    def __init__(self, backend: CollectionBackend) -> None:
        self._backend = backend
        # Documents published or deleted through this store so far: what a reader kept (a scope's
        # language counts) is out of date once this moved.
        self.changes = 0

    @property
    def backend(self) -> CollectionBackend:
        return self._backend

    async def store_document(self, doc: DocumentInfo, chunks: Sequence[ChunkToStore]) -> None:
        """Write all chunks, then publish them at once; on failure nothing stays behind."""
        try:
            for start in range(0, len(chunks), _UPSERT_BATCH):
                batch = chunks[start : start + _UPSERT_BATCH]
                await self._backend.upsert([self._point(doc, chunk) for chunk in batch])
            await self._backend.set_payload(_of_document(doc.doc_id, doc.scope), {"status": READY})
            self.changes += 1
        except BaseException:
            await self.delete_document(doc.doc_id, doc.scope)
            raise

    async def search(self, query: SearchQuery, scopes: Sequence[str], limit: int) -> list[StoredChunk]:
        """Dense, sparse, or both fused (DBSF or RRF) in one Query API call.

        The scope filter sits in every prefetch, so each side ranks only chunks this chat may read
        and the fusion never sees anything else.
        """
        legs: list[Leg] = []
        if query.dense is not None:
            legs.append(Leg(query.dense, self._backend.dense_name))
        # A question made only of stopwords has no sparse terms: then it is a dense search.
        if query.sparse is not None and query.sparse.indices:
            legs.append(Leg(query.sparse, SPARSE_VECTOR))
        if not legs:
            return []
        hits = await self._backend.query(
            legs,
            query.fusion if len(legs) > 1 else None,
            [Equals("status", READY), AnyOf("scope", tuple(scopes))],
            limit,
            prefetch=max(query.prefetch_limit, limit),
        )
        return [_chunk_from(hit.payload, hit.score) for hit in hits]

    async def find_by_hash(self, scope: str, content_hash: str) -> DocumentInfo | None:
        docs = await self._documents([Equals("scope", scope), Equals("content_hash", content_hash)], limit=1)
        return docs[0] if docs else None

    async def get_document(self, doc_id: str) -> DocumentInfo | None:
        docs = await self._documents([Equals("doc_id", doc_id)], limit=1)
        return docs[0] if docs else None

    async def list_documents(self, scopes: Sequence[str], limit: int = 500) -> list[DocumentInfo]:
        docs = await self._documents([AnyOf("scope", tuple(scopes))], limit=limit)
        return sorted(docs, key=lambda d: d.uploaded_at, reverse=True)

    async def delete_document(self, doc_id: str, scope: str) -> None:
        """Removes every chunk of `doc_id` that belongs to `scope`; another scope's chunks stay."""
        await self._backend.delete(_of_document(doc_id, scope))
        self.changes += 1

    async def maintain(self) -> None:
        """Builds the engine's indexes over what was written since the last call.

        Not called per document: Qdrant Edge 0.9 holds the GIL while it builds HNSW (40 s for 8,000
        chunks, measured), which would freeze every chat. The bot calls it at start, before it takes
        updates, and the CLI after an `ingest`; chunks written in between are searched exactly.
        """
        await self._backend.maintain()

    async def documents_named(self, scope: str, file_name: str) -> list[DocumentInfo]:
        """Published documents of `scope` uploaded under `file_name` (older versions of a file)."""
        return await self._documents([Equals("scope", scope), Equals("file_name", file_name)], limit=100)

    async def purge_stale_pending(self, older_than_s: float) -> None:
        """Removes chunks of uploads that crashed before publishing; they were never searchable."""
        await self._backend.delete(
            [Equals("status", PENDING), Below("uploaded_at", time.time() - older_than_s)]
        )

    async def count_chunks(self, doc_id: str) -> int:
        return await self._backend.count([Equals("doc_id", doc_id)])

    async def count_languages(self, scopes: Sequence[str]) -> dict[str, int]:
        """Published chunks per language ("ru", "en") in `scopes`, from the indexed `lang` field
        (m0004); chunks stored before it are not counted."""
        where: list[Condition] = [Equals("status", READY), AnyOf("scope", tuple(scopes))]
        return {lang: await self._backend.count([*where, Equals("lang", lang)]) for lang in LANGUAGES}

    async def vectors_by_chunk_hash(
        self, scope: str, doc_ids: Sequence[str]
    ) -> dict[str, tuple[list[float], SparseVector | None]]:
        """Stored vectors of the published chunks of `doc_ids` in `scope`, keyed by `chunk_hash`.

        A re-uploaded file reuses them for chunks whose indexed text is unchanged instead of
        embedding those again. Chunks stored before `chunk_hash` existed are left out.
        """
        if not doc_ids:
            return {}
        found: dict[str, tuple[list[float], SparseVector | None]] = {}
        where: list[Condition] = [
            Equals("scope", scope),
            AnyOf("doc_id", tuple(doc_ids)),
            Equals("status", READY),
        ]
        offset: str | None = None
        while True:
            points, offset = await self._backend.scroll(
                where, _UPSERT_BATCH, offset, fields=["chunk_hash"], with_vectors=True
            )
            for point in points:
                key = point.payload.get("chunk_hash")
                if isinstance(key, str) and point.dense is not None:
                    found[key] = (point.dense, point.sparse)
            if offset is None:
                return found

    async def _documents(self, conditions: list[Condition], limit: int) -> list[DocumentInfo]:
        # One point per document: its first chunk carries the metadata like every other one.
        points, _ = await self._backend.scroll(
            [*conditions, Equals("status", READY), Equals("chunk_index", 0)], limit=limit
        )
        return [_document_from(p.payload) for p in points]

    @staticmethod
    def _point(doc: DocumentInfo, chunk: ChunkToStore) -> StoredPoint:
        payload: dict[str, Any] = {
            **asdict(doc),
            "status": PENDING,
            "chunk_index": chunk.index,
            "text": chunk.text,
            "page": chunk.page,
            "section": chunk.section,
            "chunk_hash": chunk_hash(doc.title, chunk.section, chunk.text),
            "lang": chunk_language(chunk.text),
        }
        return StoredPoint(point_id(doc.doc_id, chunk.index), payload, chunk.vector, chunk.sparse)


def chunk_language(text: str) -> str:
    """ "ru" or "en": the script most of the chunk's letters are written in (the `lang` payload field)."""
    return detect_language(text)


def chunk_hash(title: str, section: str | None, text: str) -> str:
    """Identifies what a chunk's vectors were made from (`search_text`): equal hashes, equal vectors."""
    return hashlib.sha256(search_text(title, section, text).encode("utf-8")).hexdigest()[:32]


def point_id(doc_id: str, chunk_index: int) -> str:
    return str(uuid.uuid5(_POINT_NAMESPACE, f"{doc_id}:{chunk_index}"))


def _of_document(doc_id: str, scope: str) -> list[Condition]:
    return [Equals("doc_id", doc_id), Equals("scope", scope)]


def _document_from(payload: dict[str, Any]) -> DocumentInfo:
    return DocumentInfo(
        doc_id=str(payload["doc_id"]),
        scope=str(payload["scope"]),
        title=str(payload["title"]),
        file_name=str(payload["file_name"]),
        kind=str(payload["kind"]),
        pages=payload.get("pages"),
        chunks=int(payload["chunks"]),
        content_hash=str(payload["content_hash"]),
        uploaded_by=payload.get("uploaded_by"),
        uploaded_at=float(payload["uploaded_at"]),
        uploader_name=payload.get("uploader_name"),
    )


def _chunk_from(payload: dict[str, Any], score: float) -> StoredChunk:
    return StoredChunk(
        doc_id=str(payload["doc_id"]),
        chunk_index=int(payload["chunk_index"]),
        title=str(payload["title"]),
        file_name=str(payload["file_name"]),
        page=payload.get("page"),
        section=payload.get("section"),
        text=str(payload["text"]),
        score=score,
    )
