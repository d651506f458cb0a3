"""Applies the numbered schema steps in `migrations/` and checks the schema at start.

The collection's metadata records the schema version and the embedding model and dimension the
vectors were made with; vectors from another model are meaningless to search, so a mismatch stops
the bot with instructions instead of returning nonsense.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Protocol

from qdrant_client import AsyncQdrantClient

from bot.domain import SparseVector


class SchemaError(Exception):
    """The collection is missing, outdated or built for another embedding model."""


class SparsePassageEncoder(Protocol):
    model_name: str

    async def embed_passages(self, texts: Sequence[str]) -> list[SparseVector]: ...


@dataclass(frozen=True)
class MigrationContext:
    client: AsyncQdrantClient
    collection: str
    vector_name: str
    dim: int
    embedding_model: str
    # Needed to backfill sparse vectors of existing chunks (m0002); an empty collection needs none.
    sparse: SparsePassageEncoder | None = None

    def base_metadata(self) -> dict[str, Any]:
        return {
            "schema_version": 0,
            "embedding_model": self.embedding_model,
            "embedding_dim": self.dim,
            "vector_name": self.vector_name,
        }


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    apply: Callable[[MigrationContext], Awaitable[None]]


def discover_migrations() -> list[Migration]:
    import migrations

    found = []
    for info in pkgutil.iter_modules(migrations.__path__):
        if not info.name.startswith("m"):
            continue
        module: ModuleType = importlib.import_module(f"migrations.{info.name}")
        found.append(Migration(version=int(module.VERSION), name=info.name, apply=module.apply))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise RuntimeError(f"migrations must be numbered 1..n without gaps, found {versions}")
    return found


def latest_version() -> int:
    return max((m.version for m in discover_migrations()), default=0)


async def read_metadata(ctx: MigrationContext) -> dict[str, Any] | None:
    if not await ctx.client.collection_exists(ctx.collection):
        return None
    info = await ctx.client.get_collection(ctx.collection)
    return dict(info.config.metadata or {})


async def migrate(ctx: MigrationContext) -> list[str]:
    """Apply pending steps in order; returns the names applied (empty when up to date)."""
    metadata = await read_metadata(ctx)
    if metadata is not None:
        _check_model(ctx, metadata)
    current = int((metadata or {}).get("schema_version", 0))
    applied = []
    for migration in discover_migrations():
        if migration.version <= current:
            continue
        await migration.apply(ctx)
        # Recorded after each step, so an interrupted run resumes where it stopped.
        await ctx.client.update_collection(ctx.collection, metadata={"schema_version": migration.version})
        applied.append(migration.name)
    return applied


async def ensure_schema(ctx: MigrationContext) -> list[str]:
    """A new, empty store gets the whole schema, so a first run needs no `migrate`; an existing
    collection must already be current (upgrades stay an explicit `migrate`). Returns what was applied.

    Raises SchemaError for an outdated schema or another embedding model.
    """
    if await read_metadata(ctx) is None:
        return await migrate(ctx)
    await check_schema(ctx)
    return []


async def check_schema(ctx: MigrationContext) -> None:
    metadata = await read_metadata(ctx)
    if metadata is None:
        raise SchemaError(
            f"Qdrant collection '{ctx.collection}' does not exist yet: run `python -m bot migrate` first."
        )
    _check_model(ctx, metadata)
    current = int(metadata.get("schema_version", 0))
    latest = latest_version()
    if current < latest:
        raise SchemaError(
            f"Qdrant schema is at version {current}, this bot needs {latest}: run `python -m bot migrate`."
        )
    if current > latest:
        raise SchemaError(
            f"Qdrant schema version {current} is newer than this bot knows ({latest}): upgrade the bot."
        )


def _check_model(ctx: MigrationContext, metadata: dict[str, Any]) -> None:
    model, dim = metadata.get("embedding_model"), metadata.get("embedding_dim")
    if model != ctx.embedding_model or dim != ctx.dim:
        raise SchemaError(
            f"Collection '{ctx.collection}' holds vectors of {model} ({dim} dims) but EMBEDDING_MODEL is "
            f"{ctx.embedding_model} ({ctx.dim} dims): set EMBEDDING_MODEL back, or use a new "
            "QDRANT_COLLECTION and ingest the documents again."
        )
    sparse_model = metadata.get("sparse_model")
    if sparse_model and ctx.sparse is not None and sparse_model != ctx.sparse.model_name:
        raise SchemaError(
            f"Collection '{ctx.collection}' holds sparse vectors made by {sparse_model}, this bot makes "
            f"{ctx.sparse.model_name}: use a new QDRANT_COLLECTION and ingest the documents again."
        )
