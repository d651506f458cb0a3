"""Inline buttons and the callback data they carry (kept well under Telegram's 64 bytes)."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram_i18n import I18nContext

from bot.domain import ChatPreferences


class Vote(CallbackData, prefix="fb"):
    answer_id: str
    action: str  # "up", "down" or "human"


class ConfirmDelete(CallbackData, prefix="del"):
    doc_id: str
    confirm: bool


class SettingChange(CallbackData, prefix="set"):
    name: str  # "language" or a toggle's name
    value: str = ""


def feedback_keyboard(
    answer_id: str, *, offer_human: bool = False, human_label: str = ""
) -> InlineKeyboardMarkup:
    rows = [
        [
            InlineKeyboardButton(text="👍", callback_data=Vote(answer_id=answer_id, action="up").pack()),
            InlineKeyboardButton(text="👎", callback_data=Vote(answer_id=answer_id, action="down").pack()),
        ]
    ]
    if offer_human:
        rows.append(
            [
                InlineKeyboardButton(
                    text=human_label, callback_data=Vote(answer_id=answer_id, action="human").pack()
                )
            ]
        )
    return InlineKeyboardMarkup(inline_keyboard=rows)


def delete_keyboard(doc_id: str, i18n: I18nContext) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=i18n.get("delete-confirm-yes"),
                    callback_data=ConfirmDelete(doc_id=doc_id, confirm=True).pack(),
                ),
                InlineKeyboardButton(
                    text=i18n.get("delete-confirm-no"),
                    callback_data=ConfirmDelete(doc_id=doc_id, confirm=False).pack(),
                ),
            ]
        ]
    )


def settings_keyboard(
    preferences: ChatPreferences, i18n: I18nContext, *, group: bool
) -> InlineKeyboardMarkup:
    def mark(selected: bool, text: str) -> str:
        return f"✅ {text}" if selected else text

    languages = [
        InlineKeyboardButton(
            text=mark(preferences.language == code, i18n.get(f"settings-language-{code}")),
            callback_data=SettingChange(name="language", value=code).pack(),
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
        rows.append([InlineKeyboardButton(text=label, callback_data=SettingChange(name=name).pack())])
    return InlineKeyboardMarkup(inline_keyboard=rows)
