"""Albums: documents sent together (one `media_group_id`) are uploaded together, with one progress
message, whether or not each carries the caption; Telegram puts `/upload` on the first file only."""

from __future__ import annotations

import html

from aiogram import Bot, F, Router
from aiogram.types import Message
from aiogram_i18n import I18nContext

from bot.handlers.context import admin_or_refuse, in_group, upload_refusal
from bot.handlers.documents import _queue
from bot.handlers.upload_jobs import too_large_text
from bot.helpdesk.admins import AdminDirectory
from bot.ingest.albums import AlbumCollector, AlbumItem
from bot.ingest.jobs import IngestionJobs, JobFile
from bot.ingest.pipeline import IngestionService

UPLOAD_COMMAND = "upload"


def router() -> Router:
    r = Router(name="albums")

    @r.message(F.media_group_id, F.document)
    async def album_document(
        message: Message,
        bot: Bot,
        i18n: I18nContext,
        ingestion: IngestionService,
        jobs: IngestionJobs,
        admins: AdminDirectory,
        albums: AlbumCollector,
    ) -> None:
        document = message.document
        if document is None or message.media_group_id is None:
            return
        item = AlbumItem(
            message.message_id,
            document.file_id,
            document.file_name or "file",
            document.file_size,
            message.caption,
        )
        # Every item's handler waits here; the one that gets the album (on any replica) handles it.
        album = await albums.collect(message.chat.id, message.media_group_id, item)
        if not album:
            return
        username = (await bot.me()).username or ""
        if in_group(message.chat) and not any(_is_upload(i.caption, username) for i in album):
            return  # files shared in the group, not sent to the bot
        if not await admin_or_refuse(message, bot, admins, i18n, upload_refusal(message.chat)):
            return
        files: list[JobFile] = []
        for i in album:
            if i.size is not None and i.size > ingestion.max_bytes:
                # Checked before anything is downloaded, like a single file.
                text = too_large_text(i18n.get, i.size, ingestion.max_bytes)
                await message.reply(f"{html.escape(i.file_name)}: {text}")
            else:
                files.append(JobFile(i.file_id, i.file_name, i.size))
        if not files:
            return
        if in_group(message.chat) and len(album) == 1:
            # With privacy mode on, Telegram shows the bot only the captioned file of an album.
            await message.reply(i18n.get("upload-album-privacy-hint"))
        if len(files) == 1:
            await _queue(
                message, i18n, jobs, name=files[0].file_name, file_id=files[0].file_id, size=files[0].size
            )
            return
        await _queue(message, i18n, jobs, name=", ".join(f.file_name for f in files), files=tuple(files))

    return r


def _is_upload(caption: str | None, bot_username: str) -> bool:
    """`/upload` or `/upload@this_bot` as the caption's first word (Telegram's command syntax)."""
    if not caption or not caption.startswith("/"):
        return False
    command, _, mention = caption.split(maxsplit=1)[0][1:].partition("@")
    return command.lower() == UPLOAD_COMMAND and (not mention or mention.lower() == bot_username.lower())
