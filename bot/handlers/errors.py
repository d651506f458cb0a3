"""The last line of defence: log the failure and tell the user, never go silent."""

from __future__ import annotations

import logging

from aiogram import Router
from aiogram.types import ErrorEvent
from aiogram_i18n import I18nContext

log = logging.getLogger(__name__)


def router() -> Router:
    r = Router(name="errors")

    @r.errors()
    async def on_error(event: ErrorEvent, i18n: I18nContext | None = None) -> None:
        log.exception("update %s failed", event.update.update_id, exc_info=event.exception)
        query = event.update.callback_query
        if query is not None and i18n is not None:
            try:
                await query.answer(i18n.get("error-generic"), show_alert=True)
            except Exception:  # an old button's query may have expired; the log has the cause
                log.warning("could not report the error to the button press %s", query.id)
            return
        message = event.update.message
        if message is None or i18n is None:
            return
        try:
            await message.reply(i18n.get("error-generic"))
        except Exception:  # the user is unreachable too; the log above already has the cause
            log.warning("could not report the error to chat %s", message.chat.id)

    return r
