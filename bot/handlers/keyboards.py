"""Inline buttons and the callback data they carry (kept well under Telegram's 64 bytes).

Every button's data ends in a `sig` field: an HMAC tag binding the data to the chat the button is
shown in (see bot/helpdesk/button_signing.py); `SignedButtons` refuses a press whose tag is wrong.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, TelegramObject
from aiogram_i18n import I18nContext

from bot.domain import ChatPreferences
from bot.helpdesk.button_signing import ButtonSigner


class Vote(CallbackData, prefix="fb"):
    answer_id: str
    action: str  # "up", "down" or "human"
    sig: str = ""


class ConfirmDelete(CallbackData, prefix="del"):
    doc_id: str
    confirm: bool
    sig: str = ""


class SettingChange(CallbackData, prefix="set"):
    name: str  # "language" or a toggle's name
    value: str = ""
    sig: str = ""


def signed(data: CallbackData, chat_id: int, signer: ButtonSigner) -> str:
    """The packed data with its tag for `chat_id` in the last (`sig`) field."""
    return signer.sign(chat_id, data.pack())  # `sig` is empty, so the packed data ends in ":"


class SignedButtons(BaseMiddleware):
    """Outer middleware on callback queries: a press whose data was not signed by this bot for the
    chat it comes from is answered "button expired" and reaches no handler (issue 12)."""

    def __init__(self, signer: ButtonSigner) -> None:
        self._signer = signer

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        if not isinstance(event, CallbackQuery):
            return await handler(event, data)
        chat_id = event.message.chat.id if event.message is not None else None
        if chat_id is not None and event.data and self._signer.verify(chat_id, event.data):
            return await handler(event, data)
        i18n: I18nContext | None = data.get("i18n")
        await event.answer(i18n.get("button-expired") if i18n else None, show_alert=True)
        return None


def feedback_keyboard(
    answer_id: str, chat_id: int, signer: ButtonSigner, *, offer_human: bool = False, human_label: str = ""
) -> InlineKeyboardMarkup:
    def button(text: str, action: str) -> InlineKeyboardButton:
        return InlineKeyboardButton(
            text=text, callback_data=signed(Vote(answer_id=answer_id, action=action), chat_id, signer)
        )

    rows = [[button("👍", "up"), button("👎", "down")]]
    if offer_human:
        rows.append([button(human_label, "human")])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def delete_keyboard(
    doc_id: str, chat_id: int, signer: ButtonSigner, i18n: I18nContext
) -> InlineKeyboardMarkup:
    def button(key: str, confirm: bool) -> InlineKeyboardButton:
        data = signed(ConfirmDelete(doc_id=doc_id, confirm=confirm), chat_id, signer)
        return InlineKeyboardButton(text=i18n.get(key), callback_data=data)

    return InlineKeyboardMarkup(
        inline_keyboard=[[button("delete-confirm-yes", True), button("delete-confirm-no", False)]]
    )


def settings_keyboard(
    preferences: ChatPreferences, i18n: I18nContext, *, group: bool, chat_id: int, signer: ButtonSigner
) -> InlineKeyboardMarkup:
    def mark(selected: bool, text: str) -> str:
        return f"✅ {text}" if selected else text

    languages = [
        InlineKeyboardButton(
            text=mark(preferences.language == code, i18n.get(f"settings-language-{code}")),
            callback_data=signed(SettingChange(name="language", value=code), chat_id, signer),
        )
        for code in ("auto", "ru", "en")
    ]
    toggles = [("show_sources", preferences.show_sources)]
    if group:
        toggles += [("reply_not_found", preferences.reply_not_found), ("use_global", preferences.use_global)]
        toggles += [("stream_in_groups", preferences.stream_in_groups)]
    rows = [languages]
    for name, enabled in toggles:
        label = i18n.get(f"settings-{name.replace('_', '-')}-{'on' if enabled else 'off'}")
        rows.append(
            [
                InlineKeyboardButton(
                    text=label, callback_data=signed(SettingChange(name=name), chat_id, signer)
                )
            ]
        )
    return InlineKeyboardMarkup(inline_keyboard=rows)
