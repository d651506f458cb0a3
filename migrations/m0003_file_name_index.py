"""Index `file_name`: replace-on-upload filters on it, and a server in strict mode refuses a filter on
an unindexed field (issue 13)."""

from __future__ import annotations

from bot.storage.migrator import MigrationContext

VERSION = 3


async def apply(ctx: MigrationContext) -> None:
    await ctx.backend.create_index("file_name", "keyword")
