"""Both chunk-store engines the tests can run here: Qdrant Edge in a folder, and the server adapter on
qdrant-client's in-memory local mode (the same API a Qdrant server speaks)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from qdrant_client import AsyncQdrantClient

from bot.storage.chunks.edge import EdgeCollection
from bot.storage.chunks.interface import CollectionBackend
from bot.storage.chunks.server import ServerCollection

Engine = Literal["edge", "server"]
ENGINES: tuple[Engine, ...] = ("edge", "server")


async def open_backend(engine: Engine, folder: Path, collection: str, dense_name: str) -> CollectionBackend:
    if engine == "edge":
        return await EdgeCollection.open(folder, collection, dense_name)
    return ServerCollection(AsyncQdrantClient(location=":memory:"), collection, dense_name)
