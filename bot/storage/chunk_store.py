"""The chunk store's public names, kept at their old address; the code lives in `bot.storage.chunks`."""

from bot.storage.chunks.interface import PENDING, READY, SPARSE_VECTOR, ChunkStore, ChunkToStore
from bot.storage.chunks.store import QdrantChunkStore, chunk_hash, point_id

__all__ = [
    "PENDING",
    "READY",
    "SPARSE_VECTOR",
    "ChunkStore",
    "ChunkToStore",
    "QdrantChunkStore",
    "chunk_hash",
    "point_id",
]
