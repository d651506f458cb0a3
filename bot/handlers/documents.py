"""Documents: global admins manage the global base from a private chat; a group's admins manage that
group's own base (a file with the caption /upload, or /upload in reply to a file)."""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from aiogram import Bot, F, Router
from aiogram.enums import ChatType
from aiogram.filters import Command, CommandObject, and_f, or_f
from aiogram.types import CallbackQuery, Chat, Document, InlineKeyboardMarkup, Message
from aiogram_i18n import I18nContext

from bot.config import Settings
from bot.domain import DocumentInfo
from bot.handlers.context import (
    admin_or_refuse,
    admin_press,
    knowledge_scope,
    speaker_name,
    thread_of,
    upload_refusal,
)
from bot.handlers.keyboards import (
    DOCS_PER_PAGE,
    ConfirmDelete,
    DocAction,
    DocsPage,
    delete_keyboard,
    doc_details_keyboard,
    docs_keyboard,
)
from bot.handlers.sending import unchanged_is_fine
from bot.handlers.upload_jobs import too_large_text, web_reason
from bot.helpdesk.admins import AdminDirectory
from bot.helpdesk.button_signing import ButtonSigner
from bot.ingest.freshness import WebSources
from bot.ingest.jobs import IngestionJobs, IngestJob, JobFile, QueueFullError
from bot.ingest.pipeline import IngestionService
from bot.ingest.web import WebFetchError, check_url

log = logging.getLogger(__name__)


def router() -> Router:
    r = Router(name="documents")

    # A file or photo sent to the bot in private, or "/upload" on (or in reply to) one anywhere.
    @r.message(or_f(and_f(F.chat.type == ChatType.PRIVATE, or_f(F.document, F.photo)), Command("upload")))
    async def upload(
        message: Message,
        bot: Bot,
        i18n: I18nContext,
        ingestion: IngestionService,
        jobs: IngestionJobs,
        admins: AdminDirectory,
    ) -> None:
        replied = message.reply_to_message
        attachment = _attachment(message) or (_attachment(replied) if replied is not None else None)
        # Who may upload is checked first: a non-admin never sees the instructions, only the refusal.
        refusal = upload_refusal(message.chat, with_file=attachment is not None)
        if not await admin_or_refuse(message, bot, admins, i18n, refusal):
            return
        if attachment is None:
            await message.reply(i18n.get("upload-usage"))
            return
        await _upload(message, attachment, i18n, jobs, ingestion.max_bytes)

    @r.message(Command("add_url"))
    async def add_url(
        message: Message,
        command: CommandObject,
        bot: Bot,
        i18n: I18nContext,
        jobs: IngestionJobs,
        admins: AdminDirectory,
        settings: Settings,
    ) -> None:
        if not await admin_or_refuse(
            message, bot, admins, i18n, upload_refusal(message.chat, with_file=False)
        ):
            return
        url = (command.args or "").strip()
        if not url:
            await message.reply(i18n.get("add-url-usage"))
            return
        try:
            url = check_url(url, allow_private=settings.url_allow_private_networks)
        except WebFetchError as exc:
            await message.reply(i18n.get("url-refused", reason=web_reason(i18n.get, exc)))
            return
        await _queue(message, i18n, jobs, name=url, url=url)

    @r.message(Command("docs"))
    async def list_docs(
        message: Message,
        bot: Bot,
        i18n: I18nContext,
        ingestion: IngestionService,
        admins: AdminDirectory,
        web_sources: WebSources,
        signer: ButtonSigner,
    ) -> None:
        if not await admin_or_refuse(message, bot, admins, i18n):
            return
        text, markup = await _docs_view(ingestion, web_sources, message.chat, 0, i18n, signer)
        await message.answer(text, reply_markup=markup)

    @r.callback_query(DocsPage.filter())
    async def docs_page(
        query: CallbackQuery,
        callback_data: DocsPage,
        bot: Bot,
        i18n: I18nContext,
        ingestion: IngestionService,
        admins: AdminDirectory,
        web_sources: WebSources,
        signer: ButtonSigner,
    ) -> None:
        message = await admin_press(query, bot, admins, i18n)
        if message is None:
            return
        text, markup = await _docs_view(
            ingestion, web_sources, message.chat, callback_data.page, i18n, signer
        )
        with unchanged_is_fine():
            await message.edit_text(text, reply_markup=markup)
        await query.answer()

    @r.callback_query(DocAction.filter())
    async def doc_action(
        query: CallbackQuery,
        callback_data: DocAction,
        bot: Bot,
        i18n: I18nContext,
        ingestion: IngestionService,
        admins: AdminDirectory,
        web_sources: WebSources,
        signer: ButtonSigner,
    ) -> None:
        message = await admin_press(query, bot, admins, i18n)
        if message is None:
            return
        # This chat's base decides what the id names, never the button: another chat's id is unknown.
        scope = knowledge_scope(message.chat)
        doc = await ingestion.document(callback_data.doc_id, [scope])
        if doc is None:
            await query.answer(i18n.get("button-expired"), show_alert=True)
            return
        if callback_data.action == "delete":
            await message.edit_text(
                i18n.get("delete-confirm", title=html.escape(doc.title), chunks=doc.chunks),
                reply_markup=delete_keyboard(doc.doc_id, message.chat.id, signer, i18n),
            )
        else:
            checked = await web_sources.checked_at([scope])
            await message.edit_text(
                _doc_line(doc, checked, i18n),
                reply_markup=doc_details_keyboard(
                    doc.doc_id, callback_data.page, message.chat.id, signer, i18n
                ),
            )
        await query.answer()

    @r.message(Command("delete"))
    async def delete_doc(
        message: Message,
        command: CommandObject,
        bot: Bot,
        i18n: I18nContext,
        ingestion: IngestionService,
        admins: AdminDirectory,
        signer: ButtonSigner,
    ) -> None:
        if not await admin_or_refuse(message, bot, admins, i18n):
            return
        doc_id = (command.args or "").strip()
        if not doc_id:
            await message.reply(i18n.get("delete-usage"))
            return
        doc = await ingestion.document(doc_id, [knowledge_scope(message.chat)])
        if doc is None:
            await message.reply(i18n.get("delete-not-found", doc_id=html.escape(doc_id)))
            return
        await message.reply(
            i18n.get("delete-confirm", title=html.escape(doc.title), chunks=doc.chunks),
            reply_markup=delete_keyboard(doc.doc_id, message.chat.id, signer, i18n),
        )

    @r.callback_query(ConfirmDelete.filter())
    async def confirm_delete(
        query: CallbackQuery,
        callback_data: ConfirmDelete,
        bot: Bot,
        i18n: I18nContext,
        ingestion: IngestionService,
        admins: AdminDirectory,
    ) -> None:
        message = await admin_press(query, bot, admins, i18n)
        if message is None:
            return
        if not callback_data.confirm:
            await message.edit_text(i18n.get("delete-cancelled"))
            await query.answer()
            return
        doc = await ingestion.delete(callback_data.doc_id, [knowledge_scope(message.chat)])
        if doc is None:
            await message.edit_text(i18n.get("delete-not-found", doc_id=html.escape(callback_data.doc_id)))
        else:
            await message.edit_text(i18n.get("delete-done", title=html.escape(doc.title), chunks=doc.chunks))
        await query.answer()

    return r


async def _docs_view(
    ingestion: IngestionService,
    web_sources: WebSources,
    chat: Chat,
    page: int,
    i18n: I18nContext,
    signer: ButtonSigner,
) -> tuple[str, InlineKeyboardMarkup | None]:
    """One page of this chat's documents (DOCS_PER_PAGE of them) with their buttons; a page past
    the end (documents deleted since) shows the last one."""
    scope = knowledge_scope(chat)
    docs = await ingestion.documents([scope])
    if not docs:
        return i18n.get("docs-empty"), None
    checked = await web_sources.checked_at([scope])
    pages = -(-len(docs) // DOCS_PER_PAGE)
    page = min(max(page, 0), pages - 1)
    shown = docs[page * DOCS_PER_PAGE : (page + 1) * DOCS_PER_PAGE]
    lines = [i18n.get("docs-header", count=len(docs))]
    lines += [_doc_line(doc, checked, i18n) for doc in shown]
    lines.append(i18n.get("docs-page", page=page + 1, pages=pages))
    markup = docs_keyboard([(doc.doc_id, doc.title) for doc in shown], page, pages, chat.id, signer)
    return "\n\n".join(lines), markup


def _doc_line(doc: DocumentInfo, checked: dict[str, float], i18n: I18nContext) -> str:
    """A document as /docs shows it: id, title, file, type, pages, chunks, who added it and when."""
    line = i18n.get(
        "docs-item",
        doc_id=doc.doc_id,
        title=html.escape(doc.title),
        name=html.escape(doc.file_name),
        kind=doc.kind,  # the catalogue names each kind as users know it
        pages=doc.pages or 0,
        chunks=doc.chunks,
        uploader=html.escape(doc.uploader_name or "—"),
        date=datetime.fromtimestamp(doc.uploaded_at, tz=UTC).strftime("%Y-%m-%d"),
    )
    if doc.doc_id in checked:  # a web page: when it was last re-checked (issue 11)
        when = datetime.fromtimestamp(checked[doc.doc_id], tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
        line += "\n" + i18n.get("docs-web-checked", checked=when)
    return line


@dataclass(frozen=True)
class _Attachment:
    name: str
    file_id: str
    size: int | None


def _attachment(message: Message) -> _Attachment | None:
    """The message's file, or its photo at the largest size Telegram keeps (a scan or a snapshot)."""
    document: Document | None = message.document
    if document is not None:
        return _Attachment(document.file_name or "file", document.file_id, document.file_size)
    if message.photo:
        # Telegram sends each photo in several sizes, the largest last; a photo has no file name.
        photo = message.photo[-1]
        return _Attachment(f"photo_{photo.file_unique_id}.jpg", photo.file_id, photo.file_size)
    return None


async def _upload(
    message: Message, attachment: _Attachment, i18n: I18nContext, jobs: IngestionJobs, max_bytes: int
) -> None:
    """Queues an admin's file (the caller has checked who sent it)."""
    if attachment.size is not None and attachment.size > max_bytes:
        # Checked before anything is downloaded: the cloud Bot API refuses files over 20 MB anyway.
        await message.reply(too_large_text(i18n.get, attachment.size, max_bytes))
        return
    await _queue(message, i18n, jobs, name=attachment.name, file_id=attachment.file_id, size=attachment.size)


async def _queue(
    message: Message,
    i18n: I18nContext,
    jobs: IngestionJobs,
    *,
    name: str,
    file_id: str | None = None,
    url: str | None = None,
    size: int | None = None,
    files: tuple[JobFile, ...] = (),
    site_pages: int | None = None,
) -> None:
    try:
        place = await jobs.reserve(message.chat.id)
    except QueueFullError as exc:
        await message.reply(i18n.get("upload-queue-full", name=html.escape(name), limit=exc.limit))
        return
    # Behind other uploads: say how many run first (issue 12); else the plain "in the queue".
    text = (
        i18n.get("upload-queued-behind", name=html.escape(name), ahead=place)
        if place
        else i18n.get("upload-stage-queued", name=html.escape(name), done=0, total=0)
    )
    try:
        progress = await message.reply(text)
    except BaseException:
        await jobs.release(message.chat.id)
        raise
    # The worker downloads and indexes in the background and edits `progress` as it goes.
    await jobs.submit(
        IngestJob(
            file_name=name,
            scope=knowledge_scope(message.chat),
            uploaded_by=message.from_user.id if message.from_user else None,
            uploader_name=speaker_name(message),
            chat_id=message.chat.id,
            progress_message_id=progress.message_id,
            thread_id=thread_of(message),
            locale=i18n.locale,
            file_id=file_id,
            url=url,
            size=size,
            files=files,
            site_pages=site_pages,
        )
    )
