"""What each CLI command does, on the same services the bot uses."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from tqdm import tqdm

from bot.app import (
    backup_store,
    build_services,
    load_embedder,
    open_knowledge_base,
    restore_store,
    run_migrations,
)
from bot.config import Settings
from bot.domain import GLOBAL_SCOPE, chat_scope, scopes_for_chat
from bot.ingest.document import describe_warnings
from bot.ingest.parsing import SUPPORTED_EXTENSIONS, DocumentError
from bot.ingest.pipeline import IngestionService
from bot.ingest.web import WebFetchError, fetch_page
from bot.rag.answering import Answer

__all__ = [
    "ask",
    "backup",
    "delete_doc",
    "format_answer_text",
    "ingest",
    "list_docs",
    "migrate",
    "refresh",
    "restore",
    "run_bot",
    "run_worker",
]

log = logging.getLogger(__name__)


async def run_bot(settings: Settings) -> None:
    # aiogram's import costs seconds; only `run` and `worker` pay for it.
    from bot.runner import serve_bot

    await serve_bot(settings)


async def run_worker(settings: Settings) -> None:
    from bot.runner import serve_worker

    await serve_worker(settings)


async def migrate(settings: Settings) -> list[str]:
    embedder = load_embedder(settings)
    try:
        return await run_migrations(settings, embedder)
    finally:
        embedder.close()


async def backup(settings: Settings, folder: Path) -> None:
    """`kb-bot backup DIR`: the chunk collection with its vectors, and the Redis keys that matter."""
    summary = await backup_store(settings, folder)
    print(f"Backed up {summary.chunks} chunks and {summary.redis_keys} Redis keys to {folder}")


async def restore(settings: Settings, folder: Path) -> None:
    """`kb-bot restore DIR`: into an empty store (QDRANT_PATH or QDRANT_URL) and Redis."""
    summary = await restore_store(settings, folder)
    print(f"Restored {summary.chunks} chunks and {summary.redis_keys} Redis keys from {folder}")


def _sources(arguments: list[str]) -> list[Path | str]:
    """Files (folders expanded recursively, supported types only) and URLs, in the order given."""
    files: list[Path | str] = []
    for argument in arguments:
        if argument.startswith(("http://", "https://")):
            files.append(argument)
            continue
        path = Path(argument)
        if path.is_dir():
            files += sorted(
                p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUPPORTED_EXTENSIONS
            )
        else:
            files.append(path)
    return files


@dataclass(frozen=True)
class _IngestRow:
    status: str  # INDEXED | EXISTS | FAILED
    path: Path | str
    doc_id: str = ""
    pages: int | None = None
    chunks: int = 0
    seconds: float = 0.0
    note: str = ""


async def ingest(settings: Settings, paths: list[str], chat_id: int | None) -> int:
    """Ingests files and folders (recursively) with a progress bar, then prints a summary table.

    Exit code 1 if any file failed; the others are indexed all the same.
    """
    scope = GLOBAL_SCOPE if chat_id is None else chat_scope(chat_id)
    files = _sources(paths)
    rows: list[_IngestRow] = []
    started = time.monotonic()
    async with open_knowledge_base(settings) as (_, _, ingestion):
        # The bar goes to stderr and only on a terminal; the table on stdout stays clean for scripts.
        with tqdm(total=len(files), unit="file", disable=None, file=sys.stderr) as bar:
            for path in files:
                rows.append(await _ingest_one(ingestion, path, scope, bar, settings.max_upload_bytes))
                bar.update()
        await ingestion.build_indexes()
    _print_summary(rows, time.monotonic() - started)
    return 1 if any(row.status == "FAILED" for row in rows) else 0


async def _ingest_one(
    ingestion: IngestionService, path: Path | str, scope: str, bar: tqdm, max_bytes: int
) -> _IngestRow:
    name = (path.name if isinstance(path, Path) else path)[-30:]
    bar.set_postfix_str(name)

    async def progress(stage: str, done: int, total: int) -> None:
        bar.set_postfix_str(f"{name}: {stage} {done}/{total}" if total else f"{name}: {stage}")

    try:
        if isinstance(path, str):
            # The operator at the console is trusted with intranet addresses, unlike group admins.
            page = await fetch_page(path, max_bytes=max_bytes, allow_private=True)
            result = await ingestion.ingest(
                page.data,
                path,
                scope=scope,
                uploaded_by=None,
                progress=progress,
                web_url=page.url,
                content_type=page.content_type,
            )
        else:
            data = await asyncio.to_thread(path.read_bytes)
            result = await ingestion.ingest(data, path.name, scope=scope, uploaded_by=None, progress=progress)
    except (DocumentError, OSError, WebFetchError) as exc:
        return _IngestRow("FAILED", path, note=str(exc))
    doc = result.document
    return _IngestRow(
        "EXISTS" if result.already_indexed else "INDEXED",
        path,
        doc_id=doc.doc_id,
        pages=doc.pages,
        chunks=0 if result.already_indexed else doc.chunks,
        seconds=result.seconds,
        note=describe_warnings(result.warnings),  # what was not read, instead of a silent INDEXED
    )


def _print_summary(rows: list[_IngestRow], seconds: float) -> None:
    width = max([len(str(row.path)) for row in rows] + [4])
    print(f"{'status':<7}  {'file':<{width}}  {'id':<12}  {'pages':>5}  {'chunks':>6}  {'seconds':>7}  note")
    for row in rows:
        pages = str(row.pages) if row.pages else ""
        chunks = str(row.chunks) if row.status == "INDEXED" else ""
        timing = f"{row.seconds:.1f}" if row.status != "FAILED" else ""
        print(
            f"{row.status:<7}  {row.path!s:<{width}}  {row.doc_id:<12}  {pages:>5}  {chunks:>6}  {timing:>7}"
            f"  {row.note}".rstrip()
        )
    counts = {status: sum(row.status == status for row in rows) for status in ("INDEXED", "EXISTS", "FAILED")}
    warned = sum(1 for row in rows if row.status == "INDEXED" and row.note)
    print(
        f"{len(rows)} files: {counts['INDEXED']} indexed, {counts['EXISTS']} already indexed, "
        f"{counts['FAILED']} failed; {sum(row.chunks for row in rows)} chunks in {seconds:.1f} s"
        + (f"; {warned} with warnings (see the note column)" if warned else "")
    )


async def ask(settings: Settings, question: str, chat_id: int | None) -> Answer:
    async with build_services(settings) as services:
        return await services.answering.answer(question, chat_id=chat_id, remember=chat_id is not None)


def format_answer_text(answer: Answer) -> str:
    if not answer.found:
        return "No answer in the knowledge base." if answer.language == "en" else "В базе знаний нет ответа."
    lines = [answer.cited_text or answer.text, "", "Sources:" if answer.language == "en" else "Источники:"]
    for c in answer.citations:
        pages = f"p. {', '.join(str(p) for p in c.pages)}" if c.pages else ""
        where = ", ".join(x for x in (pages, *c.sections) if x)
        lines.append(f"{c.number}. {c.title or c.file_name}" + (f" — {where}" if where else ""))
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
    base = f"chat {chat_id}'s knowledge base" if chat_id is not None else "the shared knowledge base"
    hint = "" if chat_id is not None else " (a group's own documents need --chat ID)"
    print(f"Deleted {doc.title} ({doc.chunks} chunks)." if doc else f"No document {doc_id} in {base}{hint}.")
    return doc is not None


async def refresh(settings: Settings, chat_id: int | None) -> int:
    """Re-checks every web source (or one chat's) now, due or not; prints one row per page.

    Exit code 1 if a page could not be checked, or another process is running a re-check.
    """
    scopes = None if chat_id is None else [chat_scope(chat_id)]
    async with build_services(settings) as services:
        report = await services.web_sources.refresh(scopes, only_due=False)
    if report.busy:
        print("Another process is re-checking web pages right now; try again later.")
        return 1
    if not report.rows:
        print("No web pages to re-check.")
        return 0
    width = max(len(url) for url, _, _ in report.rows)
    print(f"{'status':<9}  {'page':<{width}}  note")
    for url, status, note in report.rows:
        print(f"{status:<9}  {url:<{width}}  {note}".rstrip())
    print(
        f"{len(report.rows)} pages: {report.count('changed')} changed, "
        f"{report.count('unchanged')} unchanged, "
        f"{report.count('failed')} failed, {report.count('removed')} deleted meanwhile"
    )
    return 1 if report.count("failed") else 0
