"""What the rest of the bot may ask of the chunk store, and what an engine must offer the store.

`ChunkStore` is the service-facing interface (ingestion, retrieval, handlers and the CLI call it).
`CollectionBackend` is the narrow engine interface under it: Qdrant Edge in-process or a Qdrant
server. Filters are written with the small condition types below and translated by each engine, so
the store's rules (scopes, "ready" status, one document = its chunks) exist once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from bot.domain import DocumentInfo, Fusion, SearchQuery, SparseVector, StoredChunk

READY = "ready"
PENDING = "pending"
# The BM25 vector's name in the collection (migration m0002 adds it, with Qdrant's IDF modifier).
SPARSE_VECTOR = "sparse-bm25"

IndexKind = Literal["keyword", "integer", "float"]
WriteOrdering = Literal["weak", "medium", "strong"]


@dataclass(frozen=True)
class ChunkToStore:
    index: int
    text: str
    page: int | None
    section: str | None
    vector: list[float]
    sparse: SparseVector | None = None  # None: the chunk is found by its dense vector only


# --- Conditions: all of them must hold (Qdrant's `must`). ---


@dataclass(frozen=True)
class Equals:
    key: str
    value: str | int


@dataclass(frozen=True)
class AnyOf:
    key: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Below:
    key: str
    value: float


@dataclass(frozen=True)
class LacksVector:
    """Points that have no vector of this name (m0002's backfill looks for them)."""

    name: str


Condition = Equals | AnyOf | Below | LacksVector


@dataclass(frozen=True)
class StoredPoint:
    """One point as the engine keeps it: id (UUID string), payload, and vectors when asked for."""

    id: str
    payload: dict[str, Any]
    dense: list[float] | None = None
    sparse: SparseVector | None = None


@dataclass(frozen=True)
class Leg:
    """One side of a search: a dense vector (by its name) or the sparse BM25 vector."""

    vector: list[float] | SparseVector
    using: str


@dataclass(frozen=True)
class CollectionSettings:
    """How a new collection is laid out; only a Qdrant server has shards and replicas.

    See Qdrant's "Distributed deployment" guide for shard_number, replication_factor and
    write_consistency_factor; on_disk_payload keeps payloads (chunk texts) out of RAM.
    """

    shards: int = 1
    replication_factor: int = 1
    write_consistency: int = 1
    on_disk_payload: bool = True


@dataclass(frozen=True)
class Hit:
    payload: dict[str, Any]
    score: float


class CollectionBackend(Protocol):
    """One collection on one engine. Every call is async; an embedded engine runs it off the loop.

    Writes return once they are applied (Qdrant's wait=true). Errors are the engine's own
    exceptions; the store decides what they mean.
    """

    collection: str
    dense_name: str

    # Schema (used by the migrations).
    async def exists(self) -> bool: ...
    async def create(self, dim: int, metadata: dict[str, Any], settings: CollectionSettings) -> None: ...
    async def read_metadata(self) -> dict[str, Any] | None: ...
    async def update_metadata(self, metadata: dict[str, Any]) -> None: ...
    async def create_index(self, field_name: str, kind: IndexKind) -> None: ...
    async def indexed_fields(self) -> set[str]: ...
    async def has_sparse_vector(self, name: str) -> bool: ...
    async def create_sparse_vector(self, name: str) -> None: ...

    # Data.
    async def upsert(self, points: Sequence[StoredPoint]) -> None: ...
    async def set_sparse_vectors(self, vectors: Sequence[tuple[str, SparseVector]]) -> None: ...
    async def set_payload(self, where: Sequence[Condition], payload: dict[str, Any]) -> None: ...
    async def delete(self, where: Sequence[Condition]) -> None: ...
    async def scroll(
        self,
        where: Sequence[Condition],
        limit: int,
        offset: str | None = None,
        *,
        fields: Sequence[str] | None = None,
        with_vectors: bool = False,
    ) -> tuple[list[StoredPoint], str | None]: ...
    async def count(self, where: Sequence[Condition]) -> int: ...
    async def query(
        self,
        legs: Sequence[Leg],
        fusion: Fusion | None,
        where: Sequence[Condition],
        limit: int,
        prefetch: int,
    ) -> list[Hit]: ...
    async def maintain(self) -> None:
        """Engine housekeeping after a batch of writes (Edge builds its indexes here)."""
        ...

    async def close(self) -> None: ...


class ChunkStore(Protocol):
    """Chunks and document metadata in one Qdrant collection; see `bot.storage.chunks.store`."""

    changes: int  # documents published or deleted through this object so far

    async def store_document(self, doc: DocumentInfo, chunks: Sequence[ChunkToStore]) -> None: ...
    async def search(self, query: SearchQuery, scopes: Sequence[str], limit: int) -> list[StoredChunk]: ...
    async def find_by_hash(self, scope: str, content_hash: str) -> DocumentInfo | None: ...
    async def get_document(self, doc_id: str) -> DocumentInfo | None: ...
    async def list_documents(self, scopes: Sequence[str], limit: int = 500) -> list[DocumentInfo]: ...
    async def delete_document(self, doc_id: str, scope: str) -> None: ...
    async def documents_named(self, scope: str, file_name: str) -> list[DocumentInfo]: ...
    async def purge_stale_pending(self, older_than_s: float) -> None: ...
    async def count_chunks(self, doc_id: str) -> int: ...
    async def count_languages(self, scopes: Sequence[str]) -> dict[str, int]: ...
    async def maintain(self) -> None: ...
    async def vectors_by_chunk_hash(
        self, scope: str, doc_ids: Sequence[str]
    ) -> dict[str, tuple[list[float], SparseVector | None]]: ...
