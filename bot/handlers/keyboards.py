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


def settings_toggles(group: bool) -> list[str]:
    """The on/off settings a chat has: sources everywhere, the group-only ones in groups."""
    return ["show_sources", *(("reply_not_found", "use_global", "stream_in_groups") if group else ())]


def settings_keyboard(
    preferences: ChatPreferences, i18n: I18nContext, *, group: bool, chat_id: int, signer: ButtonSigner
) -> InlineKeyboardMarkup:
    """One row per setting, its choices side by side, the current one marked ✅ (issue 14): a
    button picks a value, it never flips one, so a double tap changes nothing."""

    def choice(selected: bool, text: str, data: SettingChange) -> InlineKeyboardButton:
        return InlineKeyboardButton(
            text=f"✅ {text}" if selected else text, callback_data=signed(data, chat_id, signer)
        )

    rows = [
        [
            choice(
                preferences.language == code,
                i18n.get(f"settings-language-{code}"),
                SettingChange(name="language", value=code),
            )
            for code in ("auto", "ru", "en")
        ]
    ]
    for name in settings_toggles(group):
        enabled = bool(getattr(preferences, name))
        key = f"settings-{name.replace('_', '-')}"
        rows.append(
            [
                choice(enabled, i18n.get(f"{key}-on"), SettingChange(name=name, value="on")),
                choice(not enabled, i18n.get(f"{key}-off"), SettingChange(name=name, value="off")),
            ]
        )
    return InlineKeyboardMarkup(inline_keyboard=rows)


def settings_text(preferences: ChatPreferences, i18n: I18nContext, *, group: bool) -> str:
    """The /settings message: the title, then each setting as "Sources: ✅ shown · hidden"."""

    def line(label: str, options: list[tuple[bool, str]]) -> str:
        return f"{label}: " + " · ".join(f"✅ {text}" if chosen else text for chosen, text in options)

    lines = [
        i18n.get("settings-title-group" if group else "settings-title-private"),
        line(
            i18n.get("settings-state-language"),
            [
                (preferences.language == code, i18n.get(f"settings-state-language-{code}"))
                for code in ("auto", "ru", "en")
            ],
        ),
    ]
    for name in settings_toggles(group):
        enabled = bool(getattr(preferences, name))
        key = f"settings-state-{name.replace('_', '-')}"
        lines.append(
            line(i18n.get(key), [(enabled, i18n.get(f"{key}-on")), (not enabled, i18n.get(f"{key}-off"))])
        )
    return "\n".join(lines)


# Issue 14: "ask a human" hand-offs.
class TakeHandOff(CallbackData, prefix="ho"):
    chat_id: int  # the chat where the question was asked (the stored hand-off is looked up there)
    answer_id: str
    sig: str = ""


def take_keyboard(
    handoff_chat: int, answer_id: str, shown_in: int, signer: ButtonSigner, label: str
) -> InlineKeyboardMarkup:
    """The "Take it" button of a hand-off message shown in chat `shown_in`."""
    data = signed(TakeHandOff(chat_id=handoff_chat, answer_id=answer_id), shown_in, signer)
    return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text=label, callback_data=data)]])


# Issue 14: /docs with buttons, paged.
DOCS_PER_PAGE = 8


class DocsPage(CallbackData, prefix="dp"):
    page: int
    sig: str = ""


class DocAction(CallbackData, prefix="dd"):
    doc_id: str
    action: str  # "open" (details) or "delete" (ask for confirmation)
    page: int  # the list page to go back to
    sig: str = ""


def docs_keyboard(
    docs: list[tuple[str, str]], page: int, pages: int, chat_id: int, signer: ButtonSigner
) -> InlineKeyboardMarkup:
    """One row per document on this page (`docs`: id and title): its title opens the details, 🗑
    asks to delete it; then ◀ n/N ▶ when there is more than one page."""

    def button(text: str, data: CallbackData) -> InlineKeyboardButton:
        return InlineKeyboardButton(text=text, callback_data=signed(data, chat_id, signer))

    rows = [
        [
            button(f"📄 {_short(title)}", DocAction(doc_id=doc_id, action="open", page=page)),
            button("🗑", DocAction(doc_id=doc_id, action="delete", page=page)),
        ]
        for doc_id, title in docs
    ]
    if pages > 1:
        rows.append(
            [
                button("◀", DocsPage(page=(page - 1) % pages)),
                button(f"{page + 1}/{pages}", DocsPage(page=page)),
                button("▶", DocsPage(page=(page + 1) % pages)),
            ]
        )
    return InlineKeyboardMarkup(inline_keyboard=rows)


def doc_details_keyboard(
    doc_id: str, page: int, chat_id: int, signer: ButtonSigner, i18n: I18nContext
) -> InlineKeyboardMarkup:
    """Under one document's details: delete it (with the usual confirmation), or back to the list."""
    delete = signed(DocAction(doc_id=doc_id, action="delete", page=page), chat_id, signer)
    back = signed(DocsPage(page=page), chat_id, signer)
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(text=i18n.get("delete-confirm-yes"), callback_data=delete),
                InlineKeyboardButton(text=i18n.get("docs-back"), callback_data=back),
            ]
        ]
    )


def _short(title: str, limit: int = 40) -> str:
    return title if len(title) <= limit else title[: limit - 1] + "…"
