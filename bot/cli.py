"""What each CLI command does, on the same services the bot uses."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

from bot.app import (
    build_services,
    load_embedder,
    open_knowledge_base,
    run_migrations,
)
from bot.config import Settings
from bot.domain import GLOBAL_SCOPE, chat_scope, scopes_for_chat
from bot.ingest.parsing import SUPPORTED_EXTENSIONS, DocumentError
from bot.rag.answering import Answer

__all__ = ["ask", "delete_doc", "format_answer_text", "ingest", "list_docs", "migrate", "run_bot"]

log = logging.getLogger(__name__)


async def run_bot(settings: Settings) -> None:
    # aiogram's import costs seconds; only `run` pays for it.
    from bot.telegram_app import run_polling

    await run_polling(settings)


async def migrate(settings: Settings) -> list[str]:
    embedder = load_embedder(settings)
    try:
        return await run_migrations(settings, embedder)
    finally:
        embedder.close()


def _files_under(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(
                p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUPPORTED_EXTENSIONS
            )
        else:
            files.append(path)
    return files


async def ingest(settings: Settings, paths: list[Path], chat_id: int | None) -> int:
    """Ingests files and folders; prints one line per file; exit code 1 if any file failed."""
    scope = GLOBAL_SCOPE if chat_id is None else chat_scope(chat_id)
    failures = 0
    async with open_knowledge_base(settings) as (_, _, ingestion):
        for path in _files_under(paths):
            try:
                result = await ingestion.ingest(path.read_bytes(), path.name, scope=scope, uploaded_by=None)
            except (DocumentError, OSError) as exc:
                failures += 1
                print(f"FAILED   {path}: {exc}")
                continue
            doc = result.document
            status = "EXISTS " if result.already_indexed else "INDEXED"
            pages = f"{doc.pages} pages, " if doc.pages else ""
            print(f"{status}  {path}  id={doc.doc_id}  {pages}{doc.chunks} chunks  {result.seconds:.1f}s")
    return 1 if failures else 0


async def ask(settings: Settings, question: str, chat_id: int | None) -> Answer:
    async with build_services(settings) as services:
        return await services.answering.answer(question, chat_id=chat_id, remember=chat_id is not None)


def format_answer_text(answer: Answer) -> str:
    if not answer.found:
        return "No answer in the knowledge base." if answer.language == "en" else "В базе знаний нет ответа."
    lines = [answer.text, "", "Sources:" if answer.language == "en" else "Источники:"]
    for c in answer.citations:
        where = ", ".join(x for x in (c.file_name, f"p. {c.page}" if c.page else "", c.section or "") if x)
        lines.append(f"{c.number}. {c.title} — {where}")
    return "\n".join(lines)


async def list_docs(settings: Settings, chat_id: int | None) -> None:
    async with open_knowledge_base(settings) as (_, _, ingestion):
        docs = await ingestion.documents(scopes_for_chat(chat_id))
    if not docs:
        print("No documents.")
        return
    print(f"{'id':<12}  {'scope':<16}  {'chunks':>6}  {'uploaded':<10}  title (file)")
    for d in docs:
        date = datetime.fromtimestamp(d.uploaded_at, tz=UTC).strftime("%Y-%m-%d")
        print(f"{d.doc_id:<12}  {d.scope:<16}  {d.chunks:>6}  {date:<10}  {d.title} ({d.file_name})")


async def delete_doc(settings: Settings, doc_id: str, chat_id: int | None) -> bool:
    async with open_knowledge_base(settings) as (_, _, ingestion):
        doc = await ingestion.delete(doc_id, scopes_for_chat(chat_id))
    print(f"Deleted {doc.title} ({doc.chunks} chunks)." if doc else f"No document {doc_id} in that scope.")
    return doc is not None
