"""`kb-bot backup` then `kb-bot restore` into an empty store and an empty Redis: the same documents, the
same retrieved chunks and the same answer, the chat's settings and ratings back, its history not."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from redis.asyncio import Redis

from bot.app import Services, backup_store, build_services, restore_store, run_migrations
from bot.config import Settings
from bot.domain import GLOBAL_SCOPE, chat_scope
from bot.embed.embedder import Embedder
from bot.embed.sparse import SparseEmbedder
from bot.helpdesk.feedback import AskedQuestion
from bot.rag.answering import Answer
from bot.storage.migrator import SchemaError
from tests.conftest import SettingsFactory
from tests.support.corpus import RETURNS_MD, VPN_MD

CHAT = -100
QUESTION = "Какой срок возврата для электроники?"


async def _state(services: Services) -> tuple[Answer, list[tuple[str, str, int]]]:
    answer = await services.answering.answer(QUESTION, chat_id=CHAT, remember=False)
    docs = await services.ingestion.documents([GLOBAL_SCOPE, chat_scope(CHAT)])
    # Timings differ from run to run; what was answered, from what, must not.
    return dataclasses.replace(answer, seconds=0.0, timings={}), [
        (d.doc_id, d.file_name, d.chunks) for d in docs
    ]


async def test_a_restored_store_gives_the_same_answers(
    make_settings: SettingsFactory,
    tmp_path: Path,
    redis: Redis,
    embedder: Embedder,
    sparse_embedder: SparseEmbedder,
) -> None:
    settings = make_settings(qdrant_path=tmp_path / "before")
    await run_migrations(settings, embedder, sparse_embedder)
    async with build_services(settings, embedder=embedder, sparse=sparse_embedder) as services:
        await services.ingestion.ingest(RETURNS_MD.encode(), "returns.md", scope=GLOBAL_SCOPE, uploaded_by=1)
        await services.ingestion.ingest(VPN_MD.encode(), "vpn.md", scope=chat_scope(CHAT), uploaded_by=1)
        await services.preferences.set_language(CHAT, "en")
        answer, docs = await _state(services)
        await services.answering.answer("А для одежды?", chat_id=CHAT)  # goes into the chat's history
        answer_id = await services.feedback.remember(answer, AskedQuestion(CHAT, None, 7, 42, "Анна"))
        assert await services.feedback.rate(answer_id, CHAT, 43, "Борис", "up")
    assert answer.found
    assert len(docs) == 2

    backup = tmp_path / "backup"
    saved = await backup_store(settings, backup)
    assert saved.chunks == sum(chunks for _, _, chunks in docs)
    assert saved.redis_keys >= 3  # chat settings, the answer kept for rating, its rating

    await redis.flushall()
    restored_settings = make_settings(qdrant_path=tmp_path / "after")
    restored = await restore_store(restored_settings, backup, sparse_embedder)
    assert restored == saved

    async with build_services(restored_settings, embedder=embedder, sparse=sparse_embedder) as services:
        assert await _state(services) == (answer, docs)
        assert (await services.preferences.get(CHAT)).language == "en"
        exported, count = await services.feedback.export_csv(CHAT)
        assert count == 1
        assert "Борис" in exported.decode("utf-8-sig")
    assert await redis.keys("kb:history:*") == []  # history is not part of a backup


async def test_a_restore_never_merges_into_a_store_with_chunks(
    make_settings: SettingsFactory, tmp_path: Path, embedder: Embedder, sparse_embedder: SparseEmbedder
) -> None:
    settings: Settings = make_settings(qdrant_path=tmp_path / "live")
    await run_migrations(settings, embedder, sparse_embedder)
    async with build_services(settings, embedder=embedder, sparse=sparse_embedder) as services:
        await services.ingestion.ingest(RETURNS_MD.encode(), "returns.md", scope=GLOBAL_SCOPE, uploaded_by=1)
    await backup_store(settings, tmp_path / "backup")
    with pytest.raises(SchemaError, match="already has chunks"):
        await restore_store(settings, tmp_path / "backup", sparse_embedder)
    with pytest.raises(SchemaError, match="not a backup"):
        await restore_store(make_settings(qdrant_path=tmp_path / "empty"), tmp_path, sparse_embedder)
