"""/settings: a chat's admins choose answer language, sources, silence on "not found", the global base."""

from __future__ import annotations

from aiogram import Bot, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Chat, Message, User
from aiogram_i18n import I18nContext

from bot.handlers.context import in_group, is_chat_admin
from bot.handlers.keyboards import SettingChange, settings_keyboard, settings_text
from bot.handlers.sending import unchanged_is_fine
from bot.helpdesk.admins import AdminDirectory
from bot.helpdesk.button_signing import ButtonSigner
from bot.helpdesk.preferences import ChatPreferencesService
from bot.rag.language import locale_language


async def _may_change(
    bot: Bot, admins: AdminDirectory, chat: Chat, user: User | None, sender: Chat | None
) -> bool:
    # A private chat belongs to its user; a group to its admins.
    return not in_group(chat) or await is_chat_admin(bot, admins, chat, user, sender)


def router() -> Router:
    r = Router(name="chat-settings")

    @r.message(Command("settings"))
    async def show(
        message: Message,
        bot: Bot,
        i18n: I18nContext,
        admins: AdminDirectory,
        preferences: ChatPreferencesService,
        signer: ButtonSigner,
    ) -> None:
        if not await _may_change(bot, admins, message.chat, message.from_user, message.sender_chat):
            await message.reply(i18n.get("settings-refused"))
            return
        current = await preferences.get(message.chat.id)
        group = in_group(message.chat)
        await message.reply(
            settings_text(current, i18n, group=group),
            reply_markup=settings_keyboard(
                current, i18n, group=group, chat_id=message.chat.id, signer=signer
            ),
        )

    @r.callback_query(SettingChange.filter())
    async def change(
        query: CallbackQuery,
        callback_data: SettingChange,
        bot: Bot,
        i18n: I18nContext,
        admins: AdminDirectory,
        preferences: ChatPreferencesService,
        signer: ButtonSigner,
    ) -> None:
        message = query.message
        if not isinstance(message, Message):
            await query.answer(i18n.get("button-expired"), show_alert=True)
            return
        if not await _may_change(bot, admins, message.chat, query.from_user, None):
            await query.answer(i18n.get("settings-refused"), show_alert=True)
            return
        try:
            if callback_data.name == "language":
                updated = await preferences.set_language(message.chat.id, callback_data.value)
            elif callback_data.value in ("on", "off"):
                updated = await preferences.set_flag(
                    message.chat.id, callback_data.name, callback_data.value == "on"
                )
            else:  # a button from before issue 14 flipped the setting
                updated = await preferences.toggle(message.chat.id, callback_data.name)
        except ValueError:
            await query.answer(i18n.get("button-expired"), show_alert=True)
            return
        group = in_group(message.chat)
        # The interface follows the chosen answer language (bot/i18n/setup.py): from this change on.
        chosen = updated.language
        locale = chosen if chosen != "auto" else locale_language(query.from_user.language_code)
        with i18n.use_locale(locale), unchanged_is_fine():
            markup = settings_keyboard(updated, i18n, group=group, chat_id=message.chat.id, signer=signer)
            # The message itself shows the new state, in place.
            await message.edit_text(settings_text(updated, i18n, group=group), reply_markup=markup)
        await query.answer(i18n.get("settings-saved", locale))

    return r
