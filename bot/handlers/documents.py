"""Admins add, list and delete the global knowledge base's documents in a private chat."""

from __future__ import annotations

import html
import io
import logging
import time
from datetime import UTC, datetime

import aiohttp
from aiogram import Bot, F, Router
from aiogram.enums import ChatType
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, CommandObject
from aiogram.types import Message
from aiogram_i18n import I18nContext

from bot.config import Settings
from bot.domain import GLOBAL_SCOPE
from bot.handlers.context import is_admin
from bot.ingest.parsing import (
    CorruptDocumentError,
    DocumentError,
    EmptyDocumentError,
    UnsupportedFormatError,
)
from bot.ingest.pipeline import FileTooLargeError, IngestionService
from bot.render.telegram_html import split_for_telegram

log = logging.getLogger(__name__)


def router() -> Router:
    r = Router(name="documents")
    r.message.filter(F.chat.type == ChatType.PRIVATE)

    @r.message(F.document)
    async def upload(
        message: Message, bot: Bot, i18n: I18nContext, ingestion: IngestionService, settings: Settings
    ) -> None:
        document = message.document
        assert document is not None  # guaranteed by the F.document filter
        name = document.file_name or "file"
        if not is_admin(message, settings):
            await message.answer(i18n.get("upload-refused"))
            return
        if document.file_size is not None and document.file_size > ingestion.max_bytes:
            await message.answer(_too_large(i18n, document.file_size, ingestion.max_bytes))
            return
        progress = await message.answer(i18n.get("upload-working", name=html.escape(name)))
        started = time.monotonic()
        buffer = io.BytesIO()
        try:
            await bot.download(document, destination=buffer)
        except (TelegramAPIError, aiohttp.ClientError) as exc:
            log.warning("download of %s failed: %s", name, exc)
            await progress.edit_text(i18n.get("upload-download-failed", name=html.escape(name)))
            return
        try:
            result = await ingestion.ingest(
                buffer.getvalue(),
                name,
                scope=GLOBAL_SCOPE,
                uploaded_by=message.from_user.id if message.from_user else None,
            )
        except DocumentError as exc:
            await progress.edit_text(_document_error(i18n, exc, name, ingestion.max_bytes))
            return
        except Exception:
            # Storage or embedding failed: nothing was published; say so instead of "Indexing…" forever.
            log.exception("ingestion of %s failed", name)
            await progress.edit_text(i18n.get("upload-failed", name=html.escape(name)))
            return
        doc = result.document
        if result.already_indexed:
            text = i18n.get("upload-already", title=html.escape(doc.title), doc_id=doc.doc_id)
        else:
            text = i18n.get(
                "upload-done",
                title=html.escape(doc.title),
                name=html.escape(doc.file_name),
                pages=doc.pages or 0,
                chunks=doc.chunks,
                seconds=f"{time.monotonic() - started:.1f}",
                doc_id=doc.doc_id,
            )
        await progress.edit_text(text)

    @r.message(Command("docs"))
    async def list_docs(
        message: Message, i18n: I18nContext, ingestion: IngestionService, settings: Settings
    ) -> None:
        if not is_admin(message, settings):
            await message.answer(i18n.get("admin-only"))
            return
        docs = await ingestion.documents([GLOBAL_SCOPE])
        if not docs:
            await message.answer(i18n.get("docs-empty"))
            return
        lines = [i18n.get("docs-header", count=len(docs))]
        for doc in docs:
            date = datetime.fromtimestamp(doc.uploaded_at, tz=UTC).strftime("%Y-%m-%d")
            lines.append(
                i18n.get(
                    "docs-item",
                    doc_id=doc.doc_id,
                    title=html.escape(doc.title),
                    name=html.escape(doc.file_name),
                    chunks=doc.chunks,
                    date=date,
                )
            )
        for part in split_for_telegram("\n".join(lines)):
            await message.answer(part)

    @r.message(Command("delete"))
    async def delete_doc(
        message: Message,
        command: CommandObject,
        i18n: I18nContext,
        ingestion: IngestionService,
        settings: Settings,
    ) -> None:
        if not is_admin(message, settings):
            await message.answer(i18n.get("admin-only"))
            return
        doc_id = (command.args or "").strip()
        if not doc_id:
            await message.answer(i18n.get("delete-usage"))
            return
        doc = await ingestion.delete(doc_id, [GLOBAL_SCOPE])
        if doc is None:
            await message.answer(i18n.get("delete-not-found", doc_id=html.escape(doc_id)))
            return
        await message.answer(i18n.get("delete-done", title=html.escape(doc.title), chunks=doc.chunks))

    return r


def _too_large(i18n: I18nContext, size: int, limit: int) -> str:
    return i18n.get(
        "upload-too-large", size_mb=f"{size / 1024 / 1024:.1f}", max_mb=f"{limit / 1024 / 1024:.0f}"
    )


def _document_error(i18n: I18nContext, exc: DocumentError, name: str, limit: int) -> str:
    safe = html.escape(name)
    if isinstance(exc, FileTooLargeError):
        return _too_large(i18n, exc.size, limit)
    if isinstance(exc, UnsupportedFormatError):
        return i18n.get("upload-unsupported", name=safe)
    if isinstance(exc, EmptyDocumentError):
        return i18n.get("upload-empty", name=safe)
    reason = str(exc) if isinstance(exc, CorruptDocumentError) else type(exc).__name__
    return i18n.get("upload-corrupt", name=safe, reason=html.escape(reason))
