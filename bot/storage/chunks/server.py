"""`CollectionBackend` on a Qdrant server through qdrant-client (`QDRANT_URL`).

qdrant-client's local mode (`location=":memory:"` or `path=`) speaks the same API, so the contract
tests run this adapter there as a stand-in for a server; the bot itself never uses local mode for
search any more (it scores in Python, on the event loop: see issue 9).
"""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Sequence
from typing import Any

from qdrant_client import AsyncQdrantClient, models

from bot.domain import Fusion, SparseVector
from bot.storage.chunks.interface import (
    SPARSE_VECTOR,
    AnyOf,
    Below,
    CollectionSettings,
    Condition,
    Equals,
    Hit,
    IndexKind,
    Leg,
    StoredPoint,
    WriteOrdering,
)

_INDEX_SCHEMA = {
    "keyword": models.PayloadSchemaType.KEYWORD,
    "integer": models.PayloadSchemaType.INTEGER,
    "float": models.PayloadSchemaType.FLOAT,
}
_ORDERING = {
    "weak": models.WriteOrdering.WEAK,
    "medium": models.WriteOrdering.MEDIUM,
    "strong": models.WriteOrdering.STRONG,
}


class ServerCollection:
    """One collection on a Qdrant server; every write waits until applied (wait=true)."""

    def __init__(
        self,
        client: AsyncQdrantClient,
        collection: str,
        dense_name: str,
        ordering: WriteOrdering = "weak",
    ) -> None:
        self.client = client
        self.collection = collection
        self.dense_name = dense_name
        self._ordering = _ORDERING[ordering]

    # --- schema ---

    async def exists(self) -> bool:
        return await self.client.collection_exists(self.collection)

    async def create(self, dim: int, metadata: dict[str, Any], settings: CollectionSettings) -> None:
        await self.client.create_collection(
            self.collection,
            vectors_config={self.dense_name: models.VectorParams(size=dim, distance=models.Distance.COSINE)},
            shard_number=settings.shards,
            replication_factor=settings.replication_factor,
            write_consistency_factor=settings.write_consistency,
            on_disk_payload=settings.on_disk_payload,
            metadata=metadata,
        )

    async def read_metadata(self) -> dict[str, Any] | None:
        if not await self.exists():
            return None
        info = await self.client.get_collection(self.collection)
        return dict(info.config.metadata or {})

    async def update_metadata(self, metadata: dict[str, Any]) -> None:
        await self.client.update_collection(self.collection, metadata=metadata)

    async def create_index(self, field_name: str, kind: IndexKind) -> None:
        # Idempotent on the server; local mode accepts it, ignores it and warns, which would only
        # alarm whoever runs the contract tests.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Payload indexes have no effect")
            await self.client.create_payload_index(
                self.collection, field_name, field_schema=_INDEX_SCHEMA[kind], wait=True
            )

    async def indexed_fields(self) -> set[str]:
        info = await self.client.get_collection(self.collection)
        return set(info.payload_schema)

    async def has_sparse_vector(self, name: str) -> bool:
        info = await self.client.get_collection(self.collection)
        return name in (info.config.params.sparse_vectors or {})

    async def create_sparse_vector(self, name: str) -> None:
        # Needs Qdrant >= 1.18 on a server; local mode has it too.
        await self.client.create_vector_name(
            self.collection,
            name,
            models.SparseVectorNameConfig(sparse=models.SparseVectorConfig(modifier=models.Modifier.IDF)),
            wait=True,
        )

    # --- data ---

    async def upsert(self, points: Sequence[StoredPoint]) -> None:
        await self.client.upsert(
            self.collection,
            points=[_point(p, self.dense_name) for p in points],
            wait=True,
            ordering=self._ordering,
        )

    async def set_sparse_vectors(self, vectors: Sequence[tuple[str, SparseVector]]) -> None:
        await self.client.update_vectors(
            self.collection,
            points=[models.PointVectors(id=pid, vector={SPARSE_VECTOR: _sparse(v)}) for pid, v in vectors],
            wait=True,
            ordering=self._ordering,
        )

    async def set_payload(self, where: Sequence[Condition], payload: dict[str, Any]) -> None:
        await self.client.set_payload(
            self.collection, payload=payload, points=_filter(where), wait=True, ordering=self._ordering
        )

    async def delete(self, where: Sequence[Condition]) -> None:
        await self.client.delete(
            self.collection,
            points_selector=models.FilterSelector(filter=_filter(where)),
            wait=True,
            ordering=self._ordering,
        )

    async def scroll(
        self,
        where: Sequence[Condition],
        limit: int,
        offset: str | None = None,
        *,
        fields: Sequence[str] | None = None,
        with_vectors: bool = False,
    ) -> tuple[list[StoredPoint], str | None]:
        records, next_offset = await self.client.scroll(
            self.collection,
            scroll_filter=_filter(where),
            limit=limit,
            offset=offset,
            with_payload=list(fields) if fields is not None else True,
            with_vectors=with_vectors,
        )
        points = [
            _stored(r.id, r.payload, r.vector if with_vectors else None, self.dense_name) for r in records
        ]
        return points, None if next_offset is None else str(next_offset)

    async def count(self, where: Sequence[Condition]) -> int:
        result = await self.client.count(self.collection, count_filter=_filter(where), exact=True)
        return result.count

    async def query(
        self,
        legs: Sequence[Leg],
        fusion: Fusion | None,
        where: Sequence[Condition],
        limit: int,
        prefetch: int,
    ) -> list[Hit]:
        condition = _filter(where)
        if fusion is None:
            response = await self.client.query_points(
                self.collection,
                query=_query_vector(legs[0].vector),
                using=legs[0].using,
                query_filter=condition,
                limit=limit,
                with_payload=True,
            )
        else:
            response = await self.client.query_points(
                self.collection,
                prefetch=[
                    models.Prefetch(
                        query=_query_vector(leg.vector), using=leg.using, filter=condition, limit=prefetch
                    )
                    for leg in legs
                ],
                query=models.FusionQuery(
                    fusion=models.Fusion.DBSF if fusion == "dbsf" else models.Fusion.RRF
                ),
                limit=limit,
                with_payload=True,
            )
        return [Hit(point.payload or {}, point.score) for point in response.points]

    async def maintain(self) -> None:
        """The server's own optimizers index new segments in the background."""

    async def close(self) -> None:
        await self.client.close()


def _sparse(vector: SparseVector) -> models.SparseVector:
    return models.SparseVector(indices=vector.indices, values=vector.values)


def _query_vector(vector: list[float] | SparseVector) -> list[float] | models.SparseVector:
    return _sparse(vector) if isinstance(vector, SparseVector) else vector


def _point(point: StoredPoint, dense_name: str) -> models.PointStruct:
    vectors: dict[str, Any] = {}
    if point.dense is not None:
        vectors[dense_name] = point.dense
    if point.sparse is not None:
        vectors[SPARSE_VECTOR] = _sparse(point.sparse)
    return models.PointStruct(id=point.id, vector=vectors, payload=point.payload)


def _stored(point_id: Any, payload: dict[str, Any] | None, vector: Any, dense_name: str) -> StoredPoint:
    dense: list[float] | None = None
    sparse: SparseVector | None = None
    if isinstance(vector, dict):
        raw_dense = vector.get(dense_name)
        dense = [float(x) for x in raw_dense] if isinstance(raw_dense, list) else None
        raw_sparse = vector.get(SPARSE_VECTOR)
        if isinstance(raw_sparse, models.SparseVector):
            sparse = SparseVector(list(raw_sparse.indices), list(raw_sparse.values))
    return StoredPoint(str(uuid.UUID(str(point_id))), payload or {}, dense, sparse)


def _filter(where: Sequence[Condition]) -> models.Filter:
    must: list[models.Condition] = []
    must_not: list[models.Condition] = []
    for condition in where:
        if isinstance(condition, Equals):
            must.append(
                models.FieldCondition(key=condition.key, match=models.MatchValue(value=condition.value))
            )
        elif isinstance(condition, AnyOf):
            must.append(
                models.FieldCondition(key=condition.key, match=models.MatchAny(any=list(condition.values)))
            )
        elif isinstance(condition, Below):
            must.append(models.FieldCondition(key=condition.key, range=models.Range(lt=condition.value)))
        else:
            must_not.append(models.HasVectorCondition(has_vector=condition.name))
    return models.Filter(must=must or None, must_not=must_not or None)
