"""Chunks and document metadata in one Qdrant collection.

Every chunk carries its document's metadata, so the collection is the single source of truth for
documents (no second store to drift). A document's chunks are written with status "pending" and
flipped to "ready" in one payload update after the last one is stored; searches see only "ready",
so a half-ingested document is never searchable.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, cast

from qdrant_client import AsyncQdrantClient, models

from bot.domain import DocumentInfo, SearchQuery, SparseVector, StoredChunk

READY = "ready"
# The BM25 vector's name in the collection (migration m0002 adds it, with Qdrant's IDF modifier).
SPARSE_VECTOR = "sparse-bm25"
PENDING = "pending"
_POINT_NAMESPACE = uuid.UUID("6f1c2d4e-8a11-4c55-9b7e-2f0c9d3a7b10")
_UPSERT_BATCH = 128


@dataclass(frozen=True)
class ChunkToStore:
    index: int
    text: str
    page: int | None
    section: str | None
    vector: list[float]
    sparse: SparseVector | None = None  # None: the chunk is found by its dense vector only
    # sha256 of the text both vectors were made from; a new version reuses vectors of equal hashes.
    chunk_hash: str | None = None


class ChunkStore:
    def __init__(self, client: AsyncQdrantClient, collection: str, vector_name: str) -> None:
        self._client = client
        self._collection = collection
        self._vector_name = vector_name

    async def store_document(self, doc: DocumentInfo, chunks: Sequence[ChunkToStore]) -> None:
        """Write all chunks, then publish them at once; on failure nothing stays behind."""
        try:
            for start in range(0, len(chunks), _UPSERT_BATCH):
                batch = chunks[start : start + _UPSERT_BATCH]
                await self._client.upsert(
                    self._collection,
                    points=[self._point(doc, chunk) for chunk in batch],
                    wait=True,
                )
            await self._client.set_payload(
                self._collection,
                payload={"status": READY},
                points=models.Filter(must=[_match("doc_id", doc.doc_id)]),
                wait=True,
            )
        except BaseException:
            await self.delete_document(doc.doc_id)
            raise

    async def search(self, query: SearchQuery, scopes: Sequence[str], limit: int) -> list[StoredChunk]:
        """Dense, sparse, or both fused (DBSF or RRF) in one Query API call.

        The scope filter sits in every prefetch, so each side ranks only chunks this chat may read
        and the fusion never sees anything else.
        """
        scope_filter = models.Filter(
            must=[
                _match("status", READY),
                models.FieldCondition(key="scope", match=models.MatchAny(any=list(scopes))),
            ]
        )
        legs: list[models.Prefetch] = []
        if query.dense is not None:
            legs.append(models.Prefetch(query=query.dense, using=self._vector_name))
        # A question made only of stopwords has no sparse terms: then it is a dense search.
        if query.sparse is not None and query.sparse.indices:
            sparse = models.SparseVector(indices=query.sparse.indices, values=query.sparse.values)
            legs.append(models.Prefetch(query=sparse, using=SPARSE_VECTOR))
        if not legs:
            return []
        if len(legs) == 1:
            response = await self._client.query_points(
                self._collection,
                query=legs[0].query,
                using=legs[0].using,
                query_filter=scope_filter,
                limit=limit,
                with_payload=True,
            )
        else:
            for leg in legs:
                leg.filter = scope_filter
                leg.limit = max(query.prefetch_limit, limit)
            fusion: models.Query = (
                models.FusionQuery(fusion=models.Fusion.DBSF)
                if query.fusion == "dbsf"
                else models.FusionQuery(fusion=models.Fusion.RRF)
            )
            response = await self._client.query_points(
                self._collection, prefetch=legs, query=fusion, limit=limit, with_payload=True
            )
        return [_chunk_from(point.payload or {}, point.score) for point in response.points]

    async def find_by_hash(self, scope: str, content_hash: str) -> DocumentInfo | None:
        docs = await self._documents([_match("scope", scope), _match("content_hash", content_hash)], limit=1)
        return docs[0] if docs else None

    async def get_document(self, doc_id: str) -> DocumentInfo | None:
        docs = await self._documents([_match("doc_id", doc_id)], limit=1)
        return docs[0] if docs else None

    async def list_documents(self, scopes: Sequence[str], limit: int = 500) -> list[DocumentInfo]:
        condition = models.FieldCondition(key="scope", match=models.MatchAny(any=list(scopes)))
        docs = await self._documents([condition], limit=limit)
        return sorted(docs, key=lambda d: d.uploaded_at, reverse=True)

    async def delete_document(self, doc_id: str) -> None:
        await self._client.delete(
            self._collection,
            points_selector=models.FilterSelector(filter=models.Filter(must=[_match("doc_id", doc_id)])),
            wait=True,
        )

    async def documents_named(self, scope: str, file_name: str) -> list[DocumentInfo]:
        """Published documents of `scope` uploaded under `file_name` (older versions of a file)."""
        return await self._documents([_match("scope", scope), _match("file_name", file_name)], limit=100)

    async def vectors_by_chunk_hash(
        self, scope: str, doc_ids: Sequence[str]
    ) -> dict[str, tuple[list[float], SparseVector | None]]:
        """The stored vectors of the chunks of `doc_ids` in `scope`, keyed by their `chunk_hash`.

        Returns {chunk_hash: (dense vector, BM25 vector or None)}; chunks stored before chunk hashes
        existed (no `chunk_hash` in the payload) are left out, so they are simply embedded again.
        """
        if not doc_ids:
            return {}
        wanted = models.Filter(
            must=[
                _match("scope", scope),
                models.FieldCondition(key="doc_id", match=models.MatchAny(any=list(doc_ids))),
            ]
        )
        found: dict[str, tuple[list[float], SparseVector | None]] = {}
        offset: models.ExtendedPointId | None = None
        while True:
            points, offset = await self._client.scroll(
                self._collection,
                scroll_filter=wanted,
                limit=256,
                offset=offset,
                with_payload=["chunk_hash"],
                with_vectors=[self._vector_name, SPARSE_VECTOR],
            )
            for point in points:
                chunk_hash = (point.payload or {}).get("chunk_hash")
                vectors = point.vector
                if not isinstance(chunk_hash, str) or not isinstance(vectors, dict):
                    continue
                dense = vectors.get(self._vector_name)
                stored_sparse = vectors.get(SPARSE_VECTOR)
                if not isinstance(dense, list):
                    continue
                sparse = (
                    SparseVector(indices=list(stored_sparse.indices), values=list(stored_sparse.values))
                    if isinstance(stored_sparse, models.SparseVector)
                    else None
                )
                found[chunk_hash] = (cast(list[float], dense), sparse)
            if offset is None:
                return found

    async def purge_stale_pending(self, older_than_s: float) -> None:
        """Removes chunks of uploads that crashed before publishing; they were never searchable."""
        cutoff = time.time() - older_than_s
        stale = models.Filter(
            must=[
                _match("status", PENDING),
                models.FieldCondition(key="uploaded_at", range=models.Range(lt=cutoff)),
            ]
        )
        await self._client.delete(
            self._collection, points_selector=models.FilterSelector(filter=stale), wait=True
        )

    async def count_chunks(self, doc_id: str) -> int:
        result = await self._client.count(
            self._collection, count_filter=models.Filter(must=[_match("doc_id", doc_id)]), exact=True
        )
        return result.count

    async def _documents(self, conditions: list[models.Condition], limit: int) -> list[DocumentInfo]:
        # One point per document: its first chunk carries the metadata like every other one.
        points, _ = await self._client.scroll(
            self._collection,
            scroll_filter=models.Filter(
                must=[*conditions, _match("status", READY), _match_int("chunk_index", 0)]
            ),
            limit=limit,
            with_payload=True,
            with_vectors=False,
        )
        return [_document_from(p.payload or {}) for p in points]

    def _point(self, doc: DocumentInfo, chunk: ChunkToStore) -> models.PointStruct:
        payload: dict[str, Any] = {
            **asdict(doc),
            "status": PENDING,
            "chunk_index": chunk.index,
            "text": chunk.text,
            "page": chunk.page,
            "section": chunk.section,
            "chunk_hash": chunk.chunk_hash,
        }
        vectors: dict[str, Any] = {self._vector_name: chunk.vector}
        if chunk.sparse is not None:
            vectors[SPARSE_VECTOR] = models.SparseVector(
                indices=chunk.sparse.indices, values=chunk.sparse.values
            )
        return models.PointStruct(id=point_id(doc.doc_id, chunk.index), vector=vectors, payload=payload)


def point_id(doc_id: str, chunk_index: int) -> str:
    return str(uuid.uuid5(_POINT_NAMESPACE, f"{doc_id}:{chunk_index}"))


def _match(key: str, value: str) -> models.FieldCondition:
    return models.FieldCondition(key=key, match=models.MatchValue(value=value))


def _match_int(key: str, value: int) -> models.FieldCondition:
    return models.FieldCondition(key=key, match=models.MatchValue(value=value))


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
