"""`CollectionBackend` on Qdrant Edge: Qdrant's own Rust engine in this process (`QDRANT_PATH`).

Layout under QDRANT_PATH: `edge/<collection>/` is the Edge shard (segments, WAL, its config) and
`edge/<collection>.json` the collection metadata (schema version, embedding model and dimension),
which Edge, having no collections, does not keep itself.

Edge's calls are synchronous and, in qdrant-edge-py 0.9.0, hold the GIL while they run (measured:
a thread spinning beside a 30 ms query gets no turn until it returns). They run on a small thread
pool of their own, so the event loop never waits in a queue behind them and searches overlap the
loop's I/O, but each call still blocks Python for its duration. Queries are a few milliseconds; the
HNSW build (`maintain`) can take tens of seconds, so the bot runs it only at start, before it takes
updates, and the CLI after an `ingest` (see `QdrantChunkStore.maintain`). Writes are serialised by one lock,
so an upsert and the optimizer never interleave.
"""

from __future__ import annotations

import asyncio
import ctypes
import json
import os
import threading
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import qdrant_edge as edge

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
)

T = TypeVar("T")

_INDEX_SCHEMA = {
    "keyword": edge.PayloadSchemaType.Keyword,
    "integer": edge.PayloadSchemaType.Integer,
    "float": edge.PayloadSchemaType.Float,
}
# Qdrant's default RRF constant (lib/segment reciprocal_rank_fusion.rs), as the server uses it.
_RRF_K = 2


class StoreInUseError(Exception):
    """Another process has this Edge shard open (Edge locks its write-ahead log)."""


class EdgeCollection:
    """One collection as one Qdrant Edge shard, opened by at most one process at a time."""

    def __init__(self, root: Path, collection: str, dense_name: str, *, threads: int = 2) -> None:
        self.root = root
        self.collection = collection
        self.dense_name = dense_name
        self.shard_path = root / collection
        self.metadata_path = root / f"{collection}.json"
        self._shard: edge.EdgeShard | None = None
        self._write_lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="qdrant-edge")

    @classmethod
    async def open(cls, root: Path, collection: str, dense_name: str) -> EdgeCollection:
        """Opens the shard if it exists (else `create` makes it); raises StoreInUseError if locked."""
        store = cls(root, collection, dense_name)
        if (store.shard_path / "edge_config.json").exists():
            try:
                store._shard = await store._run(lambda: _load(store.shard_path))
            except BaseException:
                store._executor.shutdown(wait=False)
                raise
        return store

    # --- schema ---

    async def exists(self) -> bool:
        return self._shard is not None and self.metadata_path.exists()

    async def create(self, dim: int, metadata: dict[str, Any], settings: CollectionSettings) -> None:
        config = edge.EdgeConfig(
            vectors={self.dense_name: edge.EdgeVectorParams(size=dim, distance=edge.Distance.Cosine)},
            payload_memory=edge.Memory.Cold if settings.on_disk_payload else edge.Memory.Cached,
        )

        def create() -> edge.EdgeShard:
            self.root.mkdir(parents=True, exist_ok=True)
            # A run interrupted between the shard and its metadata resumes on the shard it made.
            if (self.shard_path / "edge_config.json").exists():
                return _load(self.shard_path)
            return edge.EdgeShard.create(str(self.shard_path), config)

        if self._shard is None:
            self._shard = await self._run(create)
        await self.update_metadata(metadata)

    async def read_metadata(self) -> dict[str, Any] | None:
        if not await self.exists():
            return None
        data: dict[str, Any] = json.loads(self.metadata_path.read_text(encoding="utf-8"))
        return data

    async def update_metadata(self, metadata: dict[str, Any]) -> None:
        current = await self.read_metadata() if self.metadata_path.exists() else {}
        merged = {**(current or {}), **metadata}
        # Written aside and renamed, so a crash leaves the old metadata or the new, never half.
        temporary = self.metadata_path.with_suffix(".json.tmp")
        temporary.write_text(json.dumps(merged, ensure_ascii=False, indent=1), encoding="utf-8")
        os.replace(temporary, self.metadata_path)

    async def create_index(self, field_name: str, kind: IndexKind) -> None:
        await self._write(edge.UpdateOperation.create_field_index(field_name, _INDEX_SCHEMA[kind]))

    async def indexed_fields(self) -> set[str]:
        info = await self._run(lambda: self._require().info())
        return set(info.payload_schema)

    async def has_sparse_vector(self, name: str) -> bool:
        # Edge persists its effective configuration beside the segments.
        config = json.loads((self.shard_path / "edge_config.json").read_text(encoding="utf-8"))
        return name in (config.get("sparse_vectors") or {})

    async def create_sparse_vector(self, name: str) -> None:
        await self._write(edge.UpdateOperation.create_sparse_vector(name, modifier=edge.Modifier.Idf))

    # --- data ---

    async def upsert(self, points: Sequence[StoredPoint]) -> None:
        await self._write(edge.UpdateOperation.upsert_points([self._point(p) for p in points]))

    async def set_sparse_vectors(self, vectors: Sequence[tuple[str, SparseVector]]) -> None:
        await self._write(
            edge.UpdateOperation.update_vectors(
                [edge.PointVectors(pid, {SPARSE_VECTOR: _sparse(v)}) for pid, v in vectors]
            )
        )

    async def set_payload(self, where: Sequence[Condition], payload: dict[str, Any]) -> None:
        await self._write(edge.UpdateOperation.set_payload_by_filter(_filter(where), payload))

    async def delete(self, where: Sequence[Condition]) -> None:
        await self._write(edge.UpdateOperation.delete_points_by_filter(_filter(where)))

    async def scroll(
        self,
        where: Sequence[Condition],
        limit: int,
        offset: str | None = None,
        *,
        fields: Sequence[str] | None = None,
        with_vectors: bool = False,
    ) -> tuple[list[StoredPoint], str | None]:
        request = edge.ScrollRequest(
            offset=offset,
            limit=limit,
            filter=_filter(where),
            with_payload=list(fields) if fields is not None else True,
            with_vector=with_vectors,
        )
        records, next_offset = await self._run(lambda: self._require().scroll(request))
        points = [self._stored(r.id, r.payload, r.vector) for r in records]
        return points, None if next_offset is None else str(next_offset)

    async def count(self, where: Sequence[Condition]) -> int:
        request = edge.CountRequest(filter=_filter(where), exact=True)
        return await self._run(lambda: self._require().count(request))

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
            request = edge.QueryRequest(
                limit=limit, query=_nearest(legs[0]), filter=condition, with_payload=True
            )
        else:
            # The stubs nest Dbsf and Rrf inside Fusion without deriving them from it.
            fused: Any = edge.Fusion.Dbsf() if fusion == "dbsf" else edge.Fusion.Rrf(k=_RRF_K)
            request = edge.QueryRequest(
                limit=limit,
                prefetches=[
                    edge.Prefetch(limit=prefetch, query=_nearest(leg), filter=condition) for leg in legs
                ],
                query=fused,
                with_payload=True,
            )
        # The hits are made on the engine's thread too: one Python object per payload field.
        return await self._run(
            lambda: [Hit(dict(p.payload or {}), float(p.score)) for p in self._require().query(request)]
        )

    async def maintain(self) -> None:
        """Lets Edge's optimizers build HNSW and merge segments; Edge has no background thread for it."""

        def optimize() -> None:
            with self._write_lock:
                if self._require().optimize():
                    _return_freed_heap()

        await self._run(optimize)

    async def flush(self) -> None:
        def flush() -> None:
            with self._write_lock:
                self._require().flush()

        await self._run(flush)

    async def close(self) -> None:
        shard, self._shard = self._shard, None
        if shard is not None:
            await self._run(shard.close)  # Edge flushes on close
        self._executor.shutdown(wait=True)

    # --- helpers ---

    def _require(self) -> edge.EdgeShard:
        if self._shard is None:
            raise RuntimeError(f"Qdrant Edge collection '{self.collection}' is not created: run migrate")
        return self._shard

    async def _run(self, call: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    async def _write(self, operation: edge.UpdateOperation) -> None:
        def apply() -> None:
            with self._write_lock:
                self._require().update(operation)

        await self._run(apply)

    def _point(self, point: StoredPoint) -> edge.Point:
        vectors: dict[str, Any] = {}
        if point.dense is not None:
            vectors[self.dense_name] = point.dense
        if point.sparse is not None:
            vectors[SPARSE_VECTOR] = _sparse(point.sparse)
        return edge.Point(point.id, vectors, point.payload)

    def _stored(self, point_id: Any, payload: dict[str, Any] | None, vector: Any) -> StoredPoint:
        dense: list[float] | None = None
        sparse: SparseVector | None = None
        if isinstance(vector, dict):
            raw_dense = vector.get(self.dense_name)
            dense = [float(x) for x in raw_dense] if isinstance(raw_dense, list) else None
            raw_sparse = vector.get(SPARSE_VECTOR)
            if isinstance(raw_sparse, edge.SparseVector):
                sparse = SparseVector(list(raw_sparse.indices), [float(x) for x in raw_sparse.values])
        return StoredPoint(str(uuid.UUID(str(point_id))), dict(payload or {}), dense, sparse)


def _return_freed_heap() -> None:
    """Gives the heap an HNSW build freed back to the OS: glibc keeps it in its arenas otherwise (measured
    at 50k chunks: 60 MB of 166 MB anonymous memory, in 5 ms). Edge allocates with the system malloc."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return  # not glibc (musl, macOS): nothing to trim
    libc.malloc_trim(0)


def _load(path: Path) -> edge.EdgeShard:
    try:
        return edge.EdgeShard.load(str(path))
    except Exception as exc:
        if "WouldBlock" in str(exc):
            raise StoreInUseError(f"{path} is open in another process") from None
        raise


def _sparse(vector: SparseVector) -> edge.SparseVector:
    return edge.SparseVector(vector.indices, vector.values)


def _nearest(leg: Leg) -> edge.Query:
    vector = _sparse(leg.vector) if isinstance(leg.vector, SparseVector) else leg.vector
    return edge.Query.Nearest(vector, using=leg.using)


def _filter(where: Sequence[Condition]) -> edge.Filter:
    must: list[Any] = []
    must_not: list[Any] = []
    for condition in where:
        if isinstance(condition, Equals):
            must.append(edge.FieldCondition(condition.key, match=edge.MatchValue(condition.value)))
        elif isinstance(condition, AnyOf):
            must.append(edge.FieldCondition(condition.key, match=edge.MatchAny(list(condition.values))))
        elif isinstance(condition, Below):
            must.append(edge.FieldCondition(condition.key, range=edge.RangeFloat(lt=condition.value)))
        else:
            must_not.append(edge.HasVectorCondition(condition.name))
    return edge.Filter(must=must or None, must_not=must_not or None)
