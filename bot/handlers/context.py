"""Small facts about an incoming message that several routers need."""

from __future__ import annotations

from aiogram import Bot
from aiogram.enums import ChatMemberStatus, ChatType
from aiogram.types import CallbackQuery, Chat, Message, User
from aiogram_i18n import I18nContext

from bot.domain import GLOBAL_SCOPE, chat_scope
from bot.helpdesk.admins import AdminDirectory

GROUP_TYPES = frozenset({ChatType.GROUP, ChatType.SUPERGROUP})


def in_group(chat: Chat) -> bool:
    return chat.type in GROUP_TYPES


def thread_of(message: Message) -> int | None:
    """The forum topic a message belongs to; history and replies stay inside it."""
    return message.message_thread_id if message.is_topic_message else None


def speaker_name(message: Message) -> str:
    """How the asker is named to the model and to admins: a person, or the channel/group posting."""
    if message.sender_chat is not None:
        return message.sender_chat.title or message.sender_chat.full_name
    return message.from_user.full_name if message.from_user else "User"


def knowledge_scope(chat: Chat) -> str:
    """Where documents managed from this chat live: a group's own base, or the global one."""
    return chat_scope(chat.id) if in_group(chat) else GLOBAL_SCOPE


async def is_chat_admin(
    bot: Bot, admins: AdminDirectory, chat: Chat, user: User | None, sender_chat: Chat | None = None
) -> bool:
    """Global admins everywhere; in a group also its creator and administrators (cached briefly)."""
    if in_group(chat) and sender_chat is not None and sender_chat.id == chat.id:
        return True  # an anonymous admin posting as the group itself
    if user is None:
        return False
    if not in_group(chat):
        return admins.is_global_admin(user.id)

    async def lookup() -> bool:
        member = await bot.get_chat_member(chat.id, user.id)
        return member.status in (ChatMemberStatus.CREATOR, ChatMemberStatus.ADMINISTRATOR)

    return await admins.is_group_admin(chat.id, user.id, lookup)


async def message_from_admin(message: Message, bot: Bot, admins: AdminDirectory) -> bool:
    return await is_chat_admin(bot, admins, message.chat, message.from_user, message.sender_chat)


async def admin_or_refuse(
    message: Message, bot: Bot, admins: AdminDirectory, i18n: I18nContext, refusal: str | None = None
) -> bool:
    """True for an admin; anyone else gets the `refusal` reply (nothing else happens).

    Without a `refusal` key the reply names who may do it: in a group its own admins (they may use
    the group's commands), in private the bot's admins. The refusal may name the sender's numeric id
    (`$user_id`): the one thing the bot's owner needs to make them an admin (ADMIN_IDS).
    """
    if await message_from_admin(message, bot, admins):
        return True
    key = refusal or ("admin-only-group" if in_group(message.chat) else "admin-only")
    await message.reply(i18n.get(key, user_id=str(message.from_user.id if message.from_user else "")))
    return False


def upload_refusal(chat: Chat, *, with_file: bool = True) -> str:
    """Who may add documents differs: a group's admins, or the bot's own admins.

    Only a refusal of a file sent along says "the file was not saved": a bare /upload, /add_url or
    /add_site had no file to lose.
    """
    key = "upload-refused" if with_file else "add-refused"
    return f"{key}-group" if in_group(chat) else key


async def admin_press(
    query: CallbackQuery, bot: Bot, admins: AdminDirectory, i18n: I18nContext
) -> Message | None:
    """The message under a button pressed by one of its chat's admins; None (the presser has been
    told why) for anyone else, or for a message too old for the bot to see or edit."""
    message = query.message
    if not isinstance(message, Message):
        await query.answer(i18n.get("button-expired"), show_alert=True)
        return None
    if not await is_chat_admin(bot, admins, message.chat, query.from_user):
        await query.answer(i18n.get("admin-only-button"), show_alert=True)
        return None
    return message
