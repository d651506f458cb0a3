"""Index each chunk's language (`lang`: "ru" or "en") and backfill it for the chunks already stored:
retrieval counts the chunks per language in a chat's scope to decide whether a question needs
translating (issue 11). Works on both engines through the backend interface."""

from __future__ import annotations

from bot.storage.chunks.interface import Equals
from bot.storage.chunks.store import chunk_language
from bot.storage.migrator import MigrationContext

VERSION = 4

_BATCH = 256


async def apply(ctx: MigrationContext) -> None:
    # Creating an index that exists is a no-op on both engines, so a re-run is safe.
    await ctx.backend.create_index("lang", "keyword")
    # Per document, each chunk's language (texts read a batch at a time), and which chunks lack it.
    languages_of: dict[tuple[str, str], dict[int, str]] = {}
    missing: dict[tuple[str, str], set[int]] = {}
    offset: str | None = None
    while True:
        points, offset = await ctx.backend.scroll(
            [], _BATCH, offset, fields=["doc_id", "chunk_index", "scope", "text", "lang"]
        )
        for point in points:
            language = chunk_language(str(point.payload.get("text", "")))
            document = (str(point.payload["doc_id"]), str(point.payload["scope"]))
            index = int(point.payload["chunk_index"])
            languages_of.setdefault(document, {})[index] = language
            if point.payload.get("lang") != language:
                missing.setdefault(document, set()).add(index)
        if offset is None:
            break
    for document, indexes in missing.items():
        languages = languages_of[document]
        of_document = [Equals("doc_id", document[0]), Equals("scope", document[1])]
        if len(set(languages.values())) == 1:  # the usual case: one write for the whole document
            await ctx.backend.set_payload(of_document, {"lang": next(iter(languages.values()))})
            continue
        for index in sorted(indexes):
            await ctx.backend.set_payload(
                [*of_document, Equals("chunk_index", index)], {"lang": languages[index]}
            )
