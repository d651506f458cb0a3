"""/add_site URL [N]: crawl one site (its sitemap, or same-host links) as one background job."""

from __future__ import annotations

from aiogram import Bot, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message
from aiogram_i18n import I18nContext

from bot.config import Settings
from bot.handlers.context import admin_or_refuse, upload_refusal
from bot.handlers.documents import _queue
from bot.handlers.upload_jobs import web_reason
from bot.helpdesk.admins import AdminDirectory
from bot.ingest.crawler import DEFAULT_SITE_PAGES, MAX_SITE_PAGES
from bot.ingest.jobs import IngestionJobs
from bot.ingest.web import WebFetchError, check_url


def router() -> Router:
    r = Router(name="web_sources")

    @r.message(Command("add_site"))
    async def add_site(
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
        words = (command.args or "").split()
        if not 1 <= len(words) <= 2 or (len(words) == 2 and not words[1].isdigit()):
            await message.reply(i18n.get("add-site-usage", default=DEFAULT_SITE_PAGES, max=MAX_SITE_PAGES))
            return
        pages = int(words[1]) if len(words) == 2 else DEFAULT_SITE_PAGES
        if not 1 <= pages <= MAX_SITE_PAGES:
            await message.reply(i18n.get("add-site-usage", default=DEFAULT_SITE_PAGES, max=MAX_SITE_PAGES))
            return
        try:
            url = check_url(words[0], allow_private=settings.url_allow_private_networks)
        except WebFetchError as exc:
            await message.reply(i18n.get("url-refused", reason=web_reason(i18n.get, exc)))
            return
        await _queue(message, i18n, jobs, name=url, url=url, site_pages=pages)

    return r
