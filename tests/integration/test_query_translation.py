"""Query translation (issue 11): an English question over Russian documents is also searched in
Russian, translated by the model; when the model fails, the question is searched as asked.

The whole bot's services (composition root, real Redis, Qdrant Edge, e5 and BM25) talk to the fake
OpenAI-compatible server, which answers the translation call with XQuAD's own Russian question (a
human translation of the same question) and checks the call's shape. The questions are ones the e5
vector alone does not place first among these XQuAD articles' Russian paragraphs (read from
../shared/eval at test time).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from bot.app import Services, build_services, run_migrations
from bot.domain import GLOBAL_SCOPE, DocumentInfo, chat_scope
from bot.embed.embedder import Embedder
from bot.embed.sparse import SparseEmbedder
from bot.storage.chunks.interface import StoredPoint
from bot.storage.chunks.store import QdrantChunkStore, point_id
from bot.storage.migrator import MigrationContext, migrate
from migrations import m0001_chunks_collection, m0002_sparse_bm25, m0003_file_name_index
from tests.conftest import REPO_ROOT, SettingsFactory
from tests.support.llm_server import TRANSLATION_PROMPTS, GroundedLLMServer
from tests.support.stores import ENGINES, Engine, open_backend

XQUAD = Path(os.environ.get("KB_TEST_XQUAD", REPO_ROOT.parent / "shared" / "eval" / "xquad"))
CHAT = -42
ARTICLES = (17, 22, 27, 39)  # XQuAD articles whose Russian paragraphs are the knowledge base
# XQuAD question ids: English questions whose Russian paragraph (article 17) e5 ranks below others.
QIDS = ("5725c91e38643c19005acced", "57268da7f1498d1400e8e39c")


def _xquad(language: str) -> tuple[dict[str, str], dict[str, tuple[str, str]], dict[int, list[str]]]:
    """(paragraph file → text, question id → (question, paragraph file), article → its files)."""
    data = json.loads((XQUAD / f"xquad.{language}.json").read_text(encoding="utf-8"))
    paragraphs: dict[str, str] = {}
    questions: dict[str, tuple[str, str]] = {}
    articles: dict[int, list[str]] = {}
    for number, article in enumerate(data["data"]):
        for paragraph in article["paragraphs"]:
            name = f"{language}-{len(paragraphs):03d}.txt"
            paragraphs[name] = paragraph["context"].lstrip("\ufeff")
            articles.setdefault(number, []).append(name)
            questions |= {qa["id"]: (qa["question"], name) for qa in paragraph["qas"]}
    return paragraphs, questions, articles


@pytest.fixture
async def russian_kb(
    make_settings: SettingsFactory, embedder: Embedder, sparse_embedder: SparseEmbedder
) -> dict[str, str]:
    """The Russian paragraphs of ARTICLES in CHAT's scope; yields paragraph file → text."""
    paragraphs, _, articles = _xquad("ru")
    settings = make_settings()
    await run_migrations(settings, embedder, sparse_embedder)
    async with build_services(settings, embedder=embedder, sparse=sparse_embedder) as services:
        for number in ARTICLES:
            for name in articles[number]:
                await services.ingestion.ingest(
                    paragraphs[name].encode(), name, scope=chat_scope(CHAT), uploaded_by=None
                )
    return paragraphs


async def _add_english_articles(services: Services) -> None:
    """The same articles in English, in the global base."""
    paragraphs, _, articles = _xquad("en")
    for number in ARTICLES:
        for name in articles[number]:
            await services.ingestion.ingest(
                paragraphs[name].encode(), name, scope=GLOBAL_SCOPE, uploaded_by=None
            )


async def _first_documents(services: Services, questions: Sequence[str]) -> list[tuple[str, dict[str, Any]]]:
    """Each question's first document as the model is shown it (title, the whole document)."""
    found = []
    for question in questions:
        answer = await services.answering.answer(question, chat_id=CHAT, remember=False)
        assert answer.documents, question
        found.append((str(answer.documents[0]["title"]), answer.documents[0]))
    return found


# dbsf is Qdrant's own fusion in one query; with a translation the bot fuses all four legs itself.
@pytest.mark.parametrize("fusion", ["dbsf-coverage", "dbsf"])
async def test_an_english_question_finds_its_russian_paragraph_through_the_models_translation(
    fusion: str,
    russian_kb: dict[str, str],
    make_settings: SettingsFactory,
    llm_server: GroundedLLMServer,
    embedder: Embedder,
    sparse_embedder: SparseEmbedder,
) -> None:
    _, english, _ = _xquad("en")
    _, russian, _ = _xquad("ru")
    questions = [english[qid][0] for qid in QIDS]
    expected = [russian[qid][1].removesuffix(".txt") for qid in QIDS]
    llm_server.translations = {english[qid][0]: russian[qid][0] for qid in QIDS}

    settings = make_settings(query_translation="off", retrieval_fusion=fusion)
    async with build_services(settings, embedder=embedder, sparse=sparse_embedder) as services:
        untranslated = await _first_documents(services, questions)
    assert llm_server.translation_requests == []
    # As asked, in English, the right Russian paragraph is not the first document.
    assert [title for title, _ in untranslated] != expected

    settings = make_settings(retrieval_fusion=fusion)
    async with build_services(settings, embedder=embedder, sparse=sparse_embedder) as services:
        translated = await _first_documents(services, questions)
        answer = await services.answering.answer(questions[0], chat_id=CHAT, remember=False)
    assert [title for title, _ in translated] == expected
    assert answer.timings["translate"] > 0
    calls = llm_server.translation_requests
    assert len(calls) == 3
    assert [c["messages"] for c in calls[:2]] == [
        [{"role": "system", "content": TRANSLATION_PROMPTS["ru"]}, {"role": "user", "content": q}]
        for q in questions
    ]


async def test_a_russian_question_over_russian_documents_asks_for_no_translation(
    russian_kb: dict[str, str],
    make_settings: SettingsFactory,
    llm_server: GroundedLLMServer,
    embedder: Embedder,
    sparse_embedder: SparseEmbedder,
) -> None:
    _, russian, _ = _xquad("ru")
    async with build_services(make_settings(), embedder=embedder, sparse=sparse_embedder) as services:
        answer = await services.answering.answer(russian[QIDS[0]][0], chat_id=CHAT, remember=False)
    assert answer.documents
    assert llm_server.translation_requests == []
    assert "translate" not in answer.timings


async def test_a_base_of_both_languages_is_searched_without_translation(
    russian_kb: dict[str, str],
    make_settings: SettingsFactory,
    llm_server: GroundedLLMServer,
    embedder: Embedder,
    sparse_embedder: SparseEmbedder,
) -> None:
    # The same articles in English in the global base: half the chunks the asker can read are English.
    _, english, _ = _xquad("en")
    async with build_services(make_settings(), embedder=embedder, sparse=sparse_embedder) as services:
        await _add_english_articles(services)
        answer = await services.answering.answer(english[QIDS[0]][0], chat_id=CHAT, remember=False)
        # The chat's own scope alone is all Russian again: then it is translated.
        alone = await services.answering.answer(
            english[QIDS[0]][0], chat_id=CHAT, remember=False, include_global=False
        )
    assert str(answer.documents[0]["title"]).startswith("en-")  # the asker's own language comes first
    assert "translate" not in answer.timings
    assert "translate" in alone.timings
    assert len(llm_server.translation_requests) == 1


@pytest.mark.parametrize("failure", ["server error", "timeout"])
async def test_when_the_translation_fails_the_question_is_searched_as_asked(
    failure: str,
    russian_kb: dict[str, str],
    make_settings: SettingsFactory,
    llm_server: GroundedLLMServer,
    embedder: Embedder,
    sparse_embedder: SparseEmbedder,
) -> None:
    _, english, _ = _xquad("en")
    _, russian, _ = _xquad("ru")
    questions = [english[qid][0] for qid in QIDS]
    async with build_services(
        make_settings(query_translation="off"), embedder=embedder, sparse=sparse_embedder
    ) as services:
        as_asked = await _first_documents(services, questions[:1])

    llm_server.translations = {english[qid][0]: russian[qid][0] for qid in QIDS}
    settings = make_settings(query_translation_timeout_s=0.5)
    if failure == "server error":
        llm_server.fail_next(500, times=3)  # the openai client's own two retries fail as well
    async with build_services(settings, embedder=embedder, sparse=sparse_embedder) as services:
        if failure == "timeout":
            llm_server.delay_s = 1.0
        fallen_back = await _first_documents(services, questions[:1])
    assert len(llm_server.translation_requests) >= 1
    assert fallen_back == as_asked


@pytest.mark.parametrize("engine", ENGINES)
async def test_the_migration_gives_stored_chunks_their_language(
    engine: Engine, tmp_path: Path, embedder: Embedder, sparse_embedder: SparseEmbedder
) -> None:
    backend = await open_backend(engine, tmp_path, "old", embedder.vector_name)
    try:
        ctx = MigrationContext(backend, embedder.dim, embedder.model_name, sparse_embedder)
        # A collection as version 3 left it, with chunks stored before `lang` existed.
        for earlier in (m0001_chunks_collection, m0002_sparse_bm25, m0003_file_name_index):
            await earlier.apply(ctx)
        await backend.update_metadata({**ctx.base_metadata(), "schema_version": 3})
        texts = {
            "ru": ["Пароль меняют раз в 90 дней.", "Отпуск согласует руководитель."],
            "en": ["Passwords change every 90 days."],
            "mixed": ["VPN: the client is GlobalProtect.", "Клиент VPN ставит отдел ИТ."],
        }
        vectors = await embedder.embed_passages([t for group in texts.values() for t in group])
        points: list[StoredPoint] = []
        for doc_id, group in texts.items():
            doc = DocumentInfo(
                doc_id, chat_scope(CHAT), doc_id, f"{doc_id}.txt", "text", None, len(group), doc_id, None, 0.0
            )
            for index, text in enumerate(group):
                payload = {
                    **doc.__dict__,
                    "status": "ready",
                    "chunk_index": index,
                    "text": text,
                    "page": None,
                    "section": None,
                }
                points.append(StoredPoint(point_id(doc_id, index), payload, vectors[len(points)]))
        await backend.upsert(points)
        store = QdrantChunkStore(backend)
        assert await store.count_languages([chat_scope(CHAT)]) == {"ru": 0, "en": 0}

        assert await migrate(ctx) == ["m0004_chunk_language"]

        assert await store.count_languages([chat_scope(CHAT)]) == {"ru": 3, "en": 2}
        assert await store.count_languages([chat_scope(1)]) == {"ru": 0, "en": 0}
    finally:
        await backend.close()


async def test_documents_added_in_the_other_language_count_at_the_next_question(
    russian_kb: dict[str, str],
    make_settings: SettingsFactory,
    llm_server: GroundedLLMServer,
    embedder: Embedder,
    sparse_embedder: SparseEmbedder,
) -> None:
    # The languages of a scope's chunks are remembered for a minute (asked for every question); the
    # English articles an admin has just added must count at the next question, not a minute later.
    _, english, _ = _xquad("en")
    question = english[QIDS[0]][0]
    async with build_services(make_settings(), embedder=embedder, sparse=sparse_embedder) as services:
        before = await services.answering.answer(question, chat_id=CHAT, remember=False)
        await _add_english_articles(services)
        after = await services.answering.answer(question, chat_id=CHAT, remember=False)
    assert "translate" in before.timings  # all Russian: translated
    assert "translate" not in after.timings  # half English now: no model call for a translation
    assert str(after.documents[0]["title"]).startswith("en-")
    assert len(llm_server.translation_requests) == 1
