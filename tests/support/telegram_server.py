"""A fake Telegram Bot API server for end-to-end tests.

The bot under test talks to it over real HTTP through aiogram's ``AiohttpSession``::

    session = AiohttpSession(api=TelegramAPIServer.from_base(server.base_url))

so the whole client stack (serialisation, error mapping, retries, file download) runs
exactly as in production. The server keeps just enough state (chats, messages, files,
pending updates) to answer like Telegram does, records every call, and can be told to
fail on purpose (flood control, HTML parse errors).
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import itertools
import json
import mimetypes
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.support.local_http import LocalHTTPServer
from tests.support.rich_blocks import BlocksError, read_blocks

JSONDict = dict[str, Any]

# How an answer reaches a chat: a rich message, or classic messages where rich ones are refused.
ANSWER_METHODS = ("sendRichMessage", "sendMessage")

# Telegram's own limits; enforcing them lets e2e tests catch a bot that forgets to split.
MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024

# Tags Telegram accepts with parse_mode=HTML (https://core.telegram.org/bots/api#html-style).
_HTML_TAGS = frozenset(
    {
        "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler",
        "a", "code", "pre", "blockquote", "tg-emoji",
    }
)  # fmt: skip
_TAG_RE = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)([^<>]*)>")

# Rich messages (Bot API 10.1, `InputRichMessage.html`): block and inline tags, and their limits.
_RICH_TAGS = _HTML_TAGS | frozenset(
    {
        "p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "table", "tr", "th", "td", "br",
        "hr", "details", "summary", "sup", "sub", "mark", "footer",
    }
)  # fmt: skip
_VOID_TAGS = frozenset({"br", "hr"})
# What Telegram counts against the 500 blocks: every block, nested ones too, every list item and every
# table row (TDLib's `InputRichMessage`: "the total number of all blocks, list items and table rows").
_RICH_BLOCK_TAGS = frozenset(
    {
        "p", "h1", "h2", "h3", "h4", "h5", "h6", "li", "tr", "pre", "blockquote", "table", "ul", "ol",
        "hr", "details", "footer",
    }
)  # fmt: skip
# Tags whose content is blocks: text or an inline tag directly inside one is a paragraph of its own
# (a block, and a level of nesting), as in `<li><b>x</b></li>`.
_RICH_CONTAINER_TAGS = frozenset({"li", "blockquote", "details", "footer"})
# Tags whose content is neither blocks nor a paragraph's text of their own parent (table structure).
_RICH_STRUCTURE_TAGS = frozenset({"ul", "ol", "table", "tr", "summary", "th", "td"})
MAX_RICH_LENGTH = 32768
MAX_RICH_BLOCKS = 500
MAX_RICH_DEPTH = 16
MAX_RICH_TABLE_COLUMNS = 20

# Form values are strings; these keys carry free text that may legitimately look like JSON,
# so they are never decoded (a user asking about "[1, 2]" must stay a string).
_PLAIN_TEXT_KEYS = frozenset(
    {
        "text", "caption", "title", "description", "short_description", "question", "explanation",
        "data", "query", "url", "message_text", "name", "custom_title", "callback_query_id",
        "inline_message_id", "file_id",
    }
)  # fmt: skip

# Telegram method names are case-insensitive; recording them in canonical camelCase keeps
# test assertions independent of how a client spells them.
_KNOWN_METHODS = (
    "getMe", "getUpdates", "sendMessage", "editMessageText", "sendDocument", "sendChatAction",
    "answerCallbackQuery", "deleteWebhook", "setWebhook", "setMyCommands", "getMyCommands",
    "deleteMyCommands", "deleteMessage", "getChatMember", "getChatAdministrators", "getFile",
    "editMessageReplyMarkup", "getChat", "close", "logOut", "sendRichMessage", "sendRichMessageDraft",
    "sendMessageDraft", "deleteEphemeralMessage",
)  # fmt: skip
_CANONICAL = {name.lower(): name for name in _KNOWN_METHODS}


@dataclass(frozen=True)
class UploadedFile:
    """A file part of a multipart request."""

    part_name: str
    filename: str | None
    content_type: str | None
    data: bytes


@dataclass
class RecordedRequest:
    """One Bot API call as the server saw it.

    ``params`` holds form values as strings, except JSON objects/arrays (reply_markup,
    entities, ...), which are decoded; ``raw`` keeps every value exactly as received.
    """

    method: str
    params: JSONDict
    raw: dict[str, str] = field(default_factory=dict)
    files: dict[str, UploadedFile] = field(default_factory=dict)
    failed: bool = False
    error: str | None = None
    result: Any = None
    token: str = ""
    content_type: str = ""
    at: float = field(default_factory=time.monotonic)  # when the server received it

    def int_param(self, name: str) -> int | None:
        value = self.params.get(name)
        if isinstance(value, bool):
            return None
        if isinstance(value, int):
            return value
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                return None
        return None

    @property
    def chat_id(self) -> int | None:
        return self.int_param("chat_id")

    @property
    def text(self) -> str | None:
        """The text sent: `text`, or a rich message's HTML; for a rich message sent as blocks, the same
        content written as our renderer writes HTML (`tests.support.rich_blocks`), so an assertion on
        the HTML holds for either form."""
        value = self.params.get("text")
        rich = self.params.get("rich_message")
        if not isinstance(value, str) and isinstance(rich, dict):
            if isinstance(rich.get("html"), str):
                return str(rich["html"])
            if rich.get("blocks") is not None:
                try:
                    return read_blocks(rich["blocks"]).html
                except BlocksError:
                    return None
        return value if isinstance(value, str) else None

    @property
    def visible_text(self) -> str:
        """What the user reads: the text after Telegram applied parse_mode (markup gone)."""
        if isinstance(self.result, dict) and isinstance(self.result.get("text"), str):
            return str(self.result["text"])
        return ""


# The emoji a bot may react with (Bot API, ReactionTypeEmoji); anything else is REACTION_INVALID.
BOT_REACTIONS = frozenset(
    [
        "❤",
        "👍",
        "👎",
        "🔥",
        "🥰",
        "👏",
        "😁",
        "🤔",
        "🤯",
        "😱",
        "🤬",
        "😢",
        "🎉",
        "🤩",
        "🤮",
        "💩",
        "🙏",
        "👌",
        "🕊",
        "🤡",
        "🥱",
        "🥴",
        "😍",
        "🐳",
        "❤\u200d🔥",
        "🌚",
        "🌭",
        "💯",
        "🤣",
        "⚡",
        "🍌",
        "🏆",
        "💔",
        "🤨",
        "😐",
        "🍓",
        "🍾",
        "💋",
        "🖕",
        "😈",
        "😴",
        "😭",
        "🤓",
        "👻",
        "👨\u200d💻",
        "👀",
        "🎃",
        "🙈",
        "😇",
        "😨",
        "🤝",
        "✍",
        "🤗",
        "🫡",
        "🎅",
        "🎄",
        "☃",
        "💅",
        "🤪",
        "🗿",
        "🆒",
        "💘",
        "🙉",
        "🦄",
        "😘",
        "💊",
        "🙊",
        "😎",
        "👾",
        "🤷\u200d♂",
        "🤷",
        "🤷\u200d♀",
        "😡",
    ]
)


class TelegramAPIError(Exception):
    """Raised by handlers to produce an ``{"ok": false}`` response."""

    def __init__(self, error_code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        self.retry_after = retry_after


@dataclass
class _StoredFile:
    file_id: str
    file_unique_id: str
    file_name: str
    file_path: str
    mime_type: str
    data: bytes


_Handler = Callable[[RecordedRequest], Awaitable[Any]]


def _is_truthy(value: Any) -> bool:
    # aiogram sends booleans as the JSON literals "true"/"false".
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _utf16_len(text: str) -> int:
    # Entity offsets/lengths in Telegram are counted in UTF-16 code units.
    return len(text.encode("utf-16-le")) // 2


def _decode_form_value(key: str, value: str) -> Any:
    if key in _PLAIN_TEXT_KEYS or value.lstrip()[:1] not in ("{", "["):
        return value
    try:
        decoded = json.loads(value)
    except ValueError:
        return value
    return decoded if isinstance(decoded, dict | list) else value


def validate_rich_html(text: str) -> str:
    """Validate a rich message's HTML like Telegram does and return the text the user would see.

    Checks the tags, their balance, a stray ``<``, the length (32,768), the number of blocks (500),
    the nesting (16 levels) and table width (20 columns).
    """
    visible = _html_to_text(text, tags=_RICH_TAGS, void=_VOID_TAGS, max_depth=MAX_RICH_DEPTH)
    if len(visible) > MAX_RICH_LENGTH:
        raise TelegramAPIError(400, "Bad Request: RICH_MESSAGE_TOO_LONG")
    blocks, depth = rich_html_structure(text)
    if blocks > MAX_RICH_BLOCKS:
        raise TelegramAPIError(400, "Bad Request: too many blocks in the rich message")
    if depth > MAX_RICH_DEPTH:
        raise TelegramAPIError(400, "Bad Request: rich message is nested too deeply")
    for row in re.findall(r"<tr>(.*?)</tr>", text, flags=re.S):
        if len(re.findall(r"<t[hd][ >]", row)) > MAX_RICH_TABLE_COLUMNS:
            raise TelegramAPIError(400, "Bad Request: too many table columns")
    if not visible.strip():
        raise TelegramAPIError(400, "Bad Request: message text is empty")
    return visible


def rich_html_structure(text: str) -> tuple[int, int]:
    """(blocks, deepest level) of a rich message's well-formed HTML, counted as Telegram counts its blocks
    form: every block tag, nested ones too, list items and table rows; and per run of text or inline tags
    directly inside the message, a list item or a quote, the paragraph Telegram puts it in (a block and a
    level: `<ul><li><b>x</b></li></ul>` is 3 blocks, and `<b>` is at level 4)."""
    blocks = depth = 0
    stack: list[str] = []
    in_paragraph = False  # an implicit paragraph is open in the innermost container
    pos = 0
    for match in _TAG_RE.finditer(text):
        inline_text = text[pos : match.start()].strip()
        pos = match.end()
        closing, name = match.group(1) == "/", match.group(2).lower()
        container = not stack or stack[-1] in _RICH_CONTAINER_TAGS
        inline_tag = not closing and name not in _RICH_BLOCK_TAGS and name not in _RICH_STRUCTURE_TAGS
        if container and not in_paragraph and (inline_text or inline_tag):
            blocks += 1
            in_paragraph = True
            depth = max(depth, len(stack) + 1)
        if closing:
            if stack and stack[-1] == name:
                stack.pop()
            if name in _RICH_BLOCK_TAGS:
                in_paragraph = False
            continue
        if name in _RICH_BLOCK_TAGS:
            blocks += 1
            in_paragraph = False
        level = len(stack) + 1 + (1 if in_paragraph and name not in _RICH_BLOCK_TAGS else 0)
        depth = max(depth, level)
        if name not in _VOID_TAGS:
            stack.append(name)
    if text[pos:].strip() and (not stack or stack[-1] in _RICH_CONTAINER_TAGS) and not in_paragraph:
        blocks += 1
        depth = max(depth, len(stack) + 1)
    return blocks, depth


def validate_classic_html(text: str) -> str:
    """Validate a parse_mode=HTML text like Telegram does and return what the user would see."""
    visible = _html_to_text(text)
    if not visible.strip():
        raise TelegramAPIError(400, "Bad Request: message text is empty")
    if _utf16_len(visible) > MAX_TEXT_LENGTH:
        raise TelegramAPIError(400, "Bad Request: message is too long")
    return visible


class _ByteOffset:
    """A position as Telegram reports it in errors (UTF-8 bytes), computed only when shown."""

    def __init__(self, text: str, index: int) -> None:
        self._text, self._index = text, index

    def __str__(self) -> str:
        return str(len(self._text[: self._index].encode()))


def _html_to_text(
    text: str,
    *,
    tags: frozenset[str] = _HTML_TAGS,
    void: frozenset[str] = frozenset(),
    max_depth: int = 1000,
) -> str:
    """Validate Telegram-flavoured HTML and return the text the user would see.

    Only the failure modes bots actually hit are detected: unsupported tags (``<br>``,
    ``<p>``, ``<h1>`` from a Markdown converter), unbalanced tags and a stray ``<``
    (the rest of Telegram's parser is not modelled).
    """
    stack: list[str] = []
    out: list[str] = []
    pos = 0
    for match in re.finditer(r"<", text):
        start = match.start()
        if start < pos:
            continue
        out.append(text[pos:start])
        tag = _TAG_RE.match(text, start)
        offset = _ByteOffset(text, start)  # measured only for an error message: linear, not per tag
        if tag is None:
            raise TelegramAPIError(
                400,
                f"Bad Request: can't parse entities: Unexpected end of name token at byte offset {offset}",
            )
        closing, name = tag.group(1) == "/", tag.group(2).lower()
        if name not in tags:
            kind = "end" if closing else "start"
            raise TelegramAPIError(
                400,
                "Bad Request: can't parse entities: "
                f'Unsupported {kind} tag "{name}" at byte offset {offset}',
            )
        if closing:
            if not stack or stack[-1] != name:
                expected = f', expected "</{stack[-1]}>"' if stack else ""
                raise TelegramAPIError(
                    400,
                    f"Bad Request: can't parse entities: Unmatched end tag at byte offset {offset}"
                    f'{expected}, found "</{name}>"',
                )
            stack.pop()
        elif name in void:
            pass
        else:
            stack.append(name)
            if len(stack) > max_depth:
                raise TelegramAPIError(400, "Bad Request: rich message is nested too deeply")
        pos = tag.end()
    out.append(text[pos:])
    if stack:
        raise TelegramAPIError(
            400,
            "Bad Request: can't parse entities: Can't find end tag corresponding to start tag "
            f'"{stack[-1]}"',
        )
    return html.unescape("".join(out))


class FakeTelegramServer(LocalHTTPServer):
    """In-process Telegram Bot API double served over real HTTP on 127.0.0.1."""

    def __init__(
        self,
        *,
        bot_id: int = 42,
        bot_username: str = "kb_test_bot",
        bot_first_name: str = "KB Bot",
        strict_html: bool = True,
        token: str | None = None,
        rich_messages: bool = True,
        ephemeral_messages: bool = True,
    ) -> None:
        super().__init__()
        # Like Telegram: when set, any other token gets 401 Unauthorized on every method.
        self.token = token
        self.bot_user: JSONDict = {
            "id": bot_id,
            "is_bot": True,
            "first_name": bot_first_name,
            "username": bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }
        # When True, HTML messages are checked like Telegram does; off only for tests
        # that deliberately send something this tiny parser does not understand.
        self.strict_html = strict_html
        # False imitates a self-hosted telegram-bot-api older than Bot API 10.1: rich messages and
        # their drafts are unknown methods (404 "Not Found: method not found").
        self.rich_messages = rich_messages
        # False imitates a server that refuses ephemeral_message_parameters (400).
        self.ephemeral_messages = ephemeral_messages
        # Drafts shown per (chat, draft_id), in order; a stop press is pushed with push_stop().
        self.drafts: dict[tuple[int, int], list[str]] = {}
        self._ephemeral_ids = itertools.count(1)
        self._ephemeral: dict[tuple[int, int, int], JSONDict] = {}
        self.requests: list[RecordedRequest] = []

        self._pending_updates: list[JSONDict] = []
        self._update_ids = itertools.count(1)
        self._callback_ids = itertools.count(1)
        self._file_ids = itertools.count(1)
        self._last_message_id: dict[int, int] = {}
        self._messages: dict[tuple[int, int], JSONDict] = {}
        self._chats: dict[int, JSONDict] = {}
        self._members: dict[tuple[int, int], JSONDict] = {}
        self._commands: dict[str, Any] = {}
        self._files: dict[str, _StoredFile] = {}
        self._files_by_path: dict[str, _StoredFile] = {}
        self._faults: dict[str, deque[TelegramAPIError]] = {}
        self._html_rejects = 0
        self._blocks_rejects = 0
        self._consumed: set[int] = set()
        self._closing = False
        self._update_event = asyncio.Event()
        self._request_event = asyncio.Event()

        self._handlers: dict[str, _Handler] = {
            "getme": self._get_me,
            "getupdates": self._get_updates,
            "sendmessage": self._send_message,
            "editmessagetext": self._edit_message_text,
            "senddocument": self._send_document,
            "deletewebhook": self._delete_webhook,
            "setmycommands": self._set_my_commands,
            "getmycommands": self._get_my_commands,
            "deletemessage": self._delete_message,
            "getchatmember": self._get_chat_member,
            "getchatadministrators": self._get_chat_administrators,
            "getfile": self._get_file,
            "setmessagereaction": self._set_message_reaction,
            "sendrichmessage": self._send_rich_message,
            "sendrichmessagedraft": self._send_rich_message_draft,
            "sendmessagedraft": self._send_message_draft,
            "deleteephemeralmessage": self._delete_ephemeral_message,
        }

    # ------------------------------------------------------------------ lifecycle

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        # Events are re-created here so they belong to the loop that serves requests.
        self._update_event = asyncio.Event()
        self._request_event = asyncio.Event()
        self._closing = False
        await super().start()

    def _build_app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)  # bots may upload big docs
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        return app

    async def stop(self) -> None:
        self._closing = True
        self._update_event.set()  # release pending long polls so shutdown is quick
        await super().stop()

    # ------------------------------------------------------------------ fault injection

    def fail_next(
        self,
        method: str,
        *,
        error_code: int = 429,
        description: str = "Too Many Requests: retry after 1",
        retry_after: int | None = 1,
        times: int = 1,
    ) -> None:
        """Make the next ``times`` calls of ``method`` fail with the given Bot API error."""
        queue = self._faults.setdefault(method.lower(), deque())
        for _ in range(times):
            queue.append(TelegramAPIError(error_code, description, retry_after))

    def clear_faults(self) -> None:
        """Forget every fault queued with ``fail_next`` (the outage is over)."""
        self._faults.clear()

    def reject_html_next(self, times: int = 1) -> None:
        """Make the next ``times`` sendMessage calls with parse_mode=HTML fail to parse."""
        self._html_rejects += times

    def refuse_blocks_next(self, times: int = 1) -> None:
        """Make the next ``times`` rich messages sent as blocks fail with a 400 (as a server would that
        finds something in them it does not accept); HTML rich messages still go through."""
        self._blocks_rejects += times

    # ------------------------------------------------------------------ state set-up

    def add_file(self, file_id: str, data: bytes, file_name: str) -> JSONDict:
        """Register a downloadable file; returns its Document dict."""
        path = f"documents/{file_name}"
        existing = self._files_by_path.get(path)
        if existing is not None and existing.file_id != file_id:
            # Keep paths unique so each download returns the right bytes.
            path = f"documents/{file_id}_{file_name}"
        mime_type = mimetypes.guess_type(file_name)[0] or "application/octet-stream"
        stored = _StoredFile(file_id, f"uniq-{file_id}", file_name, path, mime_type, data)
        self._files[file_id] = stored
        self._files_by_path[path] = stored
        return self.document_for(file_id)

    def document_for(self, file_id: str) -> JSONDict:
        stored = self._files[file_id]
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_name": stored.file_name,
            "mime_type": stored.mime_type,
            "file_size": len(stored.data),
        }

    def photo_sizes_for(self, file_id: str, width: int, height: int) -> list[JSONDict]:
        """A photo message's sizes as Telegram sends them (smallest first); the largest is the file."""
        stored = self._files[file_id]
        largest = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "width": width,
            "height": height,
            "file_size": len(stored.data),
        }
        thumbnail = {**largest, "file_id": f"{file_id}-thumb", "width": 90, "height": 90 * height // width}
        return [thumbnail, largest]

    def lose_file_content(self, file_id: str) -> None:
        """getFile still answers, but downloading the file gets a 404 (an expired file path)."""
        stored = self._files[file_id]
        self._files_by_path.pop(stored.file_path, None)

    def file_data(self, file_id: str) -> bytes:
        return self._files[file_id].data

    def set_chat_member(
        self,
        chat_id: int,
        user_id: int,
        status: str = "administrator",
        *,
        first_name: str = "User",
        username: str | None = None,
    ) -> None:
        """Set what getChatMember/getChatAdministrators report (default is "member")."""
        user = self._user(user_id, first_name, username, None)
        member: JSONDict = {"status": status, "user": user}
        if status == "creator":
            member["is_anonymous"] = False
        elif status == "administrator":
            member.update(
                {
                    "can_be_edited": False,
                    "is_anonymous": False,
                    "can_manage_chat": True,
                    "can_delete_messages": True,
                    "can_manage_video_chats": True,
                    "can_restrict_members": True,
                    "can_promote_members": False,
                    "can_change_info": True,
                    "can_invite_users": True,
                    "can_post_stories": False,
                    "can_edit_stories": False,
                    "can_delete_stories": False,
                    "can_send_welcome_messages": False,
                }
            )
        elif status == "kicked":
            member["until_date"] = 0
        self._members[(chat_id, user_id)] = member

    def add_group(self, chat_id: int, *, forum: bool = False, title: str | None = None) -> JSONDict:
        """Register a supergroup (a forum when ``forum``) so later updates carry it."""
        chat: JSONDict = {"id": chat_id, "type": "supergroup", "title": title or f"Group {chat_id}"}
        if forum:
            chat["is_forum"] = True
        self._chats[chat_id] = chat
        return chat

    # ------------------------------------------------------------------ update builders

    def push_update(self, update: JSONDict) -> JSONDict:
        """Queue a raw update; an ``update_id`` is assigned when missing."""
        if "update_id" not in update:
            update["update_id"] = next(self._update_ids)
        else:
            # Keep later auto-assigned ids increasing past an explicit one.
            self._update_ids = itertools.count(max(int(update["update_id"]) + 1, next(self._update_ids)))
        self._pending_updates.append(update)
        self._update_event.set()
        return update

    def push_message(
        self,
        *,
        chat_id: int,
        user_id: int,
        text: str | None = None,
        language_code: str = "en",
        chat_type: str | None = None,
        first_name: str = "User",
        username: str | None = None,
        document: JSONDict | None = None,
        caption: str | None = None,
        reply_to_message: JSONDict | None = None,
        message_thread_id: int | None = None,
        entities: list[JSONDict] | None = None,
        media_group_id: str | None = None,
        photo: list[JSONDict] | None = None,
    ) -> JSONDict:
        """Queue a user message update and return it (`media_group_id`: one item of an album)."""
        chat = self._chat(chat_id, chat_type, first_name, username)
        message: JSONDict = {
            "message_id": self._next_message_id(chat_id),
            "date": int(time.time()),
            "chat": chat,
            "from": self._user(user_id, first_name, username, language_code),
        }
        if message_thread_id is not None:
            message["message_thread_id"] = message_thread_id
            if chat.get("is_forum"):
                message["is_topic_message"] = True
        if text is not None:
            message["text"] = text
            if entities is None and text.startswith("/"):
                # Telegram marks a leading /command with a bot_command entity.
                command = text.split(maxsplit=1)[0]
                entities = [{"type": "bot_command", "offset": 0, "length": _utf16_len(command)}]
            if entities:
                message["entities"] = entities
        if document is not None:
            message["document"] = document
        if media_group_id is not None:
            message["media_group_id"] = media_group_id
        if photo is not None:
            message["photo"] = photo
        if caption is not None:
            message["caption"] = caption
            if entities and text is None:
                message["caption_entities"] = entities
        if reply_to_message is not None:
            message["reply_to_message"] = reply_to_message
        self._messages[(chat_id, message["message_id"])] = message
        return self.push_update({"message": message})

    def push_callback_query(
        self,
        *,
        chat_id: int,
        user_id: int,
        message_id: int,
        data: str,
        language_code: str = "en",
        first_name: str = "User",
        username: str | None = None,
    ) -> JSONDict:
        """Queue a button press on ``message_id`` (usually a message the bot sent)."""
        message = self._messages.get((chat_id, message_id))
        if message is None:
            message = {
                "message_id": message_id,
                "date": int(time.time()),
                "chat": self._chat(chat_id, None, first_name, username),
                "from": self.bot_user,
            }
        query: JSONDict = {
            "id": str(next(self._callback_ids)),
            "from": self._user(user_id, first_name, username, language_code),
            "chat_instance": f"ci{chat_id}",
            "message": message,
            "data": data,
        }
        return self.push_update({"callback_query": query})

    def push_stop(self, chat_id: int, draft_id: int, message_thread_id: int | None = None) -> JSONDict:
        """The user pressed stop under a streamed draft: the `stopped_message_generation` update."""
        if (chat_id, draft_id) not in self.drafts:
            raise AssertionError(f"no draft {draft_id} was shown in chat {chat_id}")
        stopped: JSONDict = {"chat": self._chat(chat_id, None, "User", None), "draft_id": draft_id}
        if message_thread_id is not None:
            stopped["message_thread_id"] = message_thread_id
        return self.push_update({"stopped_message_generation": stopped})

    def ephemeral_messages_for(self, chat_id: int, user_id: int) -> list[JSONDict]:
        """Ephemeral messages still shown to one user in one chat."""
        return [m for (c, u, _), m in self._ephemeral.items() if c == chat_id and u == user_id]

    # ------------------------------------------------------------------ inspection

    def calls(self, method: str, *, include_failed: bool = False) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == method and (include_failed or not r.failed)]

    def sent_messages(self, chat_id: int | None = None) -> list[RecordedRequest]:
        return [r for r in self.calls("sendMessage") if chat_id is None or r.chat_id == chat_id]

    async def wait_for(
        self,
        method: str | tuple[str, ...],
        predicate: Callable[[RecordedRequest], bool] | None = None,
        timeout: float = 15.0,  # noqa: ASYNC109 -- a plain number reads better in tests
    ) -> RecordedRequest:
        """Return the first successful matching call no earlier ``wait_for`` returned.

        Consuming matches lets a test walk forward through a conversation with
        repeated waits instead of tracking indices itself.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            methods = (method,) if isinstance(method, str) else method
            for index, request in enumerate(self.requests):
                if index in self._consumed or request.failed or request.method not in methods:
                    continue
                if predicate is None or predicate(request):
                    self._consumed.add(index)
                    return request
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(
                    f"no successful {method} call matched within {timeout}s; recorded:\n" + self.dump()
                )
            self._request_event.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._request_event.wait(), remaining)

    def dump(self) -> str:
        """Human-readable listing of recorded calls, for assertion messages."""
        lines = []
        for index, request in enumerate(self.requests):
            status = f"FAILED ({request.error})" if request.failed else "ok"
            params = json.dumps(request.params, ensure_ascii=False, default=str)
            if len(params) > 300:
                params = params[:300] + "…"
            lines.append(f"  #{index} {request.method} {status} {params}")
        return "\n".join(lines) or "  (no requests)"

    # ------------------------------------------------------------------ HTTP plumbing

    async def _handle_api(self, request: web.Request) -> web.Response:
        received = request.match_info["method"]
        method = _CANONICAL.get(received.lower(), received)
        params, raw, files = await self._parse_params(request)
        recorded = RecordedRequest(
            method=method,
            params=params,
            raw=raw,
            files=files,
            token=request.match_info["token"],
            content_type=request.content_type,
        )
        try:
            if self.token is not None and recorded.token != self.token:
                raise TelegramAPIError(401, "Unauthorized")
            faults = self._faults.get(method.lower())
            if faults:
                raise faults.popleft()
            handler = self._handlers.get(method.lower(), self._default_handler)
            result = await handler(recorded)
        except TelegramAPIError as error:
            recorded.failed = True
            recorded.error = error.description
            self._record(recorded)
            body: JSONDict = {"ok": False, "error_code": error.error_code, "description": error.description}
            if error.retry_after is not None:
                body["parameters"] = {"retry_after": error.retry_after}
            return web.json_response(body, status=error.error_code)
        recorded.result = result
        self._record(recorded)
        return web.json_response({"ok": True, "result": result})

    async def _handle_file(self, request: web.Request) -> web.Response:
        stored = self._files_by_path.get(request.match_info["path"])
        if stored is None:
            return web.json_response({"ok": False, "error_code": 404, "description": "Not Found"}, status=404)
        return web.Response(body=stored.data, content_type=stored.mime_type)

    async def _parse_params(
        self, request: web.Request
    ) -> tuple[JSONDict, dict[str, str], dict[str, UploadedFile]]:
        params: JSONDict = {}
        raw: dict[str, str] = {}
        files: dict[str, UploadedFile] = {}
        for key, query_value in request.query.items():
            raw[key] = query_value
            params[key] = _decode_form_value(key, query_value)
        if request.content_type == "application/json":
            body = await request.json()
            if isinstance(body, dict):
                for key, item in body.items():
                    raw[key] = item if isinstance(item, str) else json.dumps(item, ensure_ascii=False)
                    params[key] = item
        elif request.can_read_body:
            # request.post() understands both urlencoded and multipart bodies.
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, web.FileField):
                    files[key] = UploadedFile(key, value.filename, value.content_type, value.file.read())
                else:
                    text = value if isinstance(value, str) else bytes(value).decode()
                    raw[key] = text
                    params[key] = _decode_form_value(key, text)
        # aiogram uploads as ``document=attach://<random>`` plus a part named <random>;
        # re-key such parts by the parameter that references them.
        for key, value in list(params.items()):
            if isinstance(value, str) and value.startswith("attach://"):
                part = files.pop(value.removeprefix("attach://"), None)
                if part is not None:
                    files[key] = part
        return params, raw, files

    def _record(self, request: RecordedRequest) -> None:
        self.requests.append(request)
        self._request_event.set()

    # ------------------------------------------------------------------ helpers

    def _next_message_id(self, chat_id: int) -> int:
        # One counter per chat shared by user and bot messages, as in real private chats.
        self._last_message_id[chat_id] = self._last_message_id.get(chat_id, 0) + 1
        return self._last_message_id[chat_id]

    def _user(
        self, user_id: int, first_name: str, username: str | None, language_code: str | None
    ) -> JSONDict:
        user: JSONDict = {"id": user_id, "is_bot": False, "first_name": first_name}
        if username is not None:
            user["username"] = username
        if language_code is not None:
            user["language_code"] = language_code
        return user

    def _chat(self, chat_id: int, chat_type: str | None, first_name: str, username: str | None) -> JSONDict:
        known = self._chats.get(chat_id)
        if known is not None and chat_type in (None, known["type"]):
            return known
        kind = chat_type or ("private" if chat_id > 0 else "supergroup")
        chat: JSONDict = {"id": chat_id, "type": kind}
        if kind == "private":
            chat["first_name"] = first_name
            if username is not None:
                chat["username"] = username
        else:
            chat["title"] = f"Test {kind} {chat_id}"
        self._chats[chat_id] = chat
        return chat

    def _require_chat_id(self, request: RecordedRequest) -> int:
        chat_id = request.chat_id
        if chat_id is None:
            raise TelegramAPIError(400, "Bad Request: chat not found")
        return chat_id

    def _require_int(self, request: RecordedRequest, name: str) -> int:
        value = request.int_param(name)
        if value is None:
            raise TelegramAPIError(400, f"Bad Request: {name} is required")
        return value

    def _render(self, text: str, parse_mode: Any, *, caption: bool = False) -> str:
        """Return the visible text after parse_mode processing, enforcing Telegram's limits."""
        mode = parse_mode.lower() if isinstance(parse_mode, str) else ""
        visible = _html_to_text(text) if mode == "html" and self.strict_html else text
        if caption:
            if len(visible) > MAX_CAPTION_LENGTH:
                raise TelegramAPIError(400, "Bad Request: message caption is too long")
            return visible
        if not visible.strip():
            raise TelegramAPIError(400, "Bad Request: message text is empty")
        if len(visible) > MAX_TEXT_LENGTH:
            raise TelegramAPIError(400, "Bad Request: message is too long")
        return visible

    def _new_bot_message(self, request: RecordedRequest, chat_id: int) -> JSONDict:
        message: JSONDict = {
            "message_id": self._next_message_id(chat_id),
            "date": int(time.time()),
            "chat": self._chat(chat_id, None, "User", None),
            "from": self.bot_user,
        }
        thread_id = request.int_param("message_thread_id")
        if thread_id is not None:
            message["message_thread_id"] = thread_id
        reply_to = request.params.get("reply_parameters")
        reply_id = reply_to.get("message_id") if isinstance(reply_to, dict) else None
        reply_id = reply_id if isinstance(reply_id, int) else request.int_param("reply_to_message_id")
        if reply_id is not None and (chat_id, reply_id) in self._messages:
            original = dict(self._messages[(chat_id, reply_id)])
            original.pop("reply_to_message", None)  # Telegram nests only one level
            message["reply_to_message"] = original
        markup = request.params.get("reply_markup")
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            # Message.reply_markup can only be inline; reply keyboards are not echoed.
            message["reply_markup"] = markup
        return message

    # ------------------------------------------------------------------ Bot API methods

    async def _default_handler(self, request: RecordedRequest) -> Any:
        return True

    async def _get_me(self, request: RecordedRequest) -> Any:
        return self.bot_user

    async def _get_updates(self, request: RecordedRequest) -> Any:
        offset = request.int_param("offset")
        limit = request.int_param("limit") or 100
        timeout = request.int_param("timeout") or 0
        if offset is not None:
            # Like Telegram, a positive offset confirms (forgets) every earlier update.
            if offset >= 0:
                self._pending_updates = [u for u in self._pending_updates if u["update_id"] >= offset]
            else:
                self._pending_updates = self._pending_updates[offset:]
        loop = asyncio.get_running_loop()
        # Long poll, but capped at 1 s so a stopping server never keeps the bot hanging.
        deadline = loop.time() + min(timeout, 1.0)
        while not self._pending_updates and not self._closing:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            self._update_event.clear()
            try:
                await asyncio.wait_for(self._update_event.wait(), remaining)
            except TimeoutError:
                break
        return self._pending_updates[:limit]

    async def _delete_webhook(self, request: RecordedRequest) -> Any:
        if _is_truthy(request.params.get("drop_pending_updates")):
            # Real Telegram discards the queue here; push updates after the bot started.
            self._pending_updates.clear()
        return True

    def _ephemeral_receiver(self, request: RecordedRequest, chat_id: int) -> int | None:
        params = request.params.get("ephemeral_message_parameters")
        if params is None:
            return None
        if not self.ephemeral_messages:
            raise TelegramAPIError(400, "Bad Request: ephemeral messages can't be sent to the chat")
        receiver = params.get("receiver_user_id") if isinstance(params, dict) else None
        if not isinstance(receiver, int) or isinstance(receiver, bool):
            raise TelegramAPIError(400, "Bad Request: receiver_user_id is required")
        if chat_id > 0:
            raise TelegramAPIError(400, "Bad Request: ephemeral messages can be sent only to group chats")
        return receiver

    def _store_sent(self, request: RecordedRequest, chat_id: int, message: JSONDict) -> JSONDict:
        receiver = self._ephemeral_receiver(request, chat_id)
        if receiver is not None:
            # Only the receiver sees it; its message_id is 0 and it is addressed by ephemeral_message_id.
            message["message_id"] = 0
            message["ephemeral_message_id"] = next(self._ephemeral_ids)
            message["receiver_user"] = self._user(receiver, "User", None, None)
            self._ephemeral[(chat_id, receiver, message["ephemeral_message_id"])] = message
            return message
        self._messages[(chat_id, message["message_id"])] = message
        return message

    def _rich_only(self, request: RecordedRequest) -> None:
        if not self.rich_messages:
            raise TelegramAPIError(404, "Not Found: method not found")

    def _rich_html(self, request: RecordedRequest) -> str:
        rich = request.params.get("rich_message")
        if not isinstance(rich, dict):
            raise TelegramAPIError(400, "Bad Request: rich_message is required")
        given = [key for key in ("html", "markdown", "blocks") if rich.get(key) is not None]
        if len(given) != 1:
            raise TelegramAPIError(400, "Bad Request: exactly one of html, markdown and blocks must be used")
        if given[0] == "blocks":
            if self._blocks_rejects > 0:
                self._blocks_rejects -= 1
                raise TelegramAPIError(400, "Bad Request: can't parse rich message blocks")
            try:
                return read_blocks(rich["blocks"]).visible
            except BlocksError as error:
                raise TelegramAPIError(400, f"Bad Request: {error}") from error
        if given[0] != "html":
            return str(rich[given[0]])  # not used by this bot; accepted as it is
        return validate_rich_html(str(rich["html"]))

    async def _send_rich_message(self, request: RecordedRequest) -> Any:
        self._rich_only(request)
        chat_id = self._require_chat_id(request)
        visible = self._rich_html(request)
        message = self._new_bot_message(request, chat_id)
        # A sent message's `rich_message` is Telegram's block form; the tests read what was sent
        # (`params["rich_message"]`) and what is visible (`text`).
        message["text"] = visible
        return self._store_sent(request, chat_id, message)

    async def _send_rich_message_draft(self, request: RecordedRequest) -> Any:
        self._rich_only(request)
        chat_id = self._require_chat_id(request)
        if chat_id < 0:
            raise TelegramAPIError(400, "Bad Request: drafts can be sent only to private chats")
        draft_id = self._require_int(request, "draft_id")
        if draft_id == 0:
            raise TelegramAPIError(400, "Bad Request: draft_id must be non-zero")
        self.drafts.setdefault((chat_id, draft_id), []).append(self._rich_html(request))
        return True

    async def _send_message_draft(self, request: RecordedRequest) -> Any:
        chat_id = self._require_chat_id(request)
        if chat_id < 0:
            raise TelegramAPIError(400, "Bad Request: drafts can be sent only to private chats")
        draft_id = self._require_int(request, "draft_id")
        if draft_id == 0:
            raise TelegramAPIError(400, "Bad Request: draft_id must be non-zero")
        visible = self._render(request.text or "", request.params.get("parse_mode"))
        self.drafts.setdefault((chat_id, draft_id), []).append(visible)
        return True

    async def _delete_ephemeral_message(self, request: RecordedRequest) -> Any:
        chat_id = self._require_chat_id(request)
        key = (
            chat_id,
            self._require_int(request, "receiver_user_id"),
            self._require_int(request, "ephemeral_message_id"),
        )
        if self._ephemeral.pop(key, None) is None:
            raise TelegramAPIError(400, "Bad Request: message to delete not found")
        return True

    async def _send_message(self, request: RecordedRequest) -> Any:
        chat_id = self._require_chat_id(request)
        text = request.text or ""
        parse_mode = request.params.get("parse_mode")
        if isinstance(parse_mode, str) and parse_mode.lower() == "html" and self._html_rejects > 0:
            self._html_rejects -= 1
            raise TelegramAPIError(400, "Bad Request: can't parse entities: Unsupported start tag")
        visible = self._render(text, parse_mode)
        message = self._new_bot_message(request, chat_id)
        message["text"] = visible
        entities = request.params.get("entities")
        if isinstance(entities, list) and entities:
            message["entities"] = entities
        return self._store_sent(request, chat_id, message)

    async def _edit_message_text(self, request: RecordedRequest) -> Any:
        if "inline_message_id" in request.params:
            return True  # inline messages are not tracked; Telegram returns True for them
        chat_id = self._require_chat_id(request)
        message_id = self._require_int(request, "message_id")
        stored = self._messages.get((chat_id, message_id))
        if stored is None:
            raise TelegramAPIError(400, "Bad Request: message to edit not found")
        if stored.get("from", {}).get("id") != self.bot_user["id"]:
            raise TelegramAPIError(400, "Bad Request: message can't be edited")
        visible = self._render(request.text or "", request.params.get("parse_mode"))
        markup = request.params.get("reply_markup")
        markup = markup if isinstance(markup, dict) and "inline_keyboard" in markup else None
        if visible == stored.get("text") and markup == stored.get("reply_markup"):
            raise TelegramAPIError(
                400,
                "Bad Request: message is not modified: specified new message content and reply markup "
                "are exactly the same as a current content and reply markup of the message",
            )
        edited = dict(stored)
        edited["text"] = visible
        edited["edit_date"] = int(time.time())
        edited.pop("reply_markup", None)
        if markup is not None:
            edited["reply_markup"] = markup
        entities = request.params.get("entities")
        edited.pop("entities", None)
        if isinstance(entities, list) and entities:
            edited["entities"] = entities
        self._messages[(chat_id, message_id)] = edited
        return edited

    async def _send_document(self, request: RecordedRequest) -> Any:
        chat_id = self._require_chat_id(request)
        upload = request.files.get("document")
        if upload is not None:
            file_id = f"uploaded-{next(self._file_ids)}"
            document = self.add_file(file_id, upload.data, upload.filename or "document")
        else:
            reference = request.params.get("document")
            if not isinstance(reference, str) or reference not in self._files:
                raise TelegramAPIError(400, "Bad Request: wrong file identifier/HTTP URL specified")
            document = self.document_for(reference)
        message = self._new_bot_message(request, chat_id)
        message["document"] = document
        caption = request.params.get("caption")
        if isinstance(caption, str) and caption:
            message["caption"] = self._render(caption, request.params.get("parse_mode"), caption=True)
        self._messages[(chat_id, message["message_id"])] = message
        return message

    async def _delete_message(self, request: RecordedRequest) -> Any:
        key = (self._require_chat_id(request), self._require_int(request, "message_id"))
        if self._messages.pop(key, None) is None:
            raise TelegramAPIError(400, "Bad Request: message to delete not found")
        return True

    async def _set_message_reaction(self, request: RecordedRequest) -> Any:
        key = (self._require_chat_id(request), self._require_int(request, "message_id"))
        if key not in self._messages:
            raise TelegramAPIError(400, "Bad Request: message to react not found")
        reaction = request.params.get("reaction", [])
        if not isinstance(reaction, list) or len(reaction) > 1:  # bots may set at most one reaction
            raise TelegramAPIError(400, "Bad Request: REACTIONS_TOO_MANY")
        for item in reaction:
            if (
                not isinstance(item, dict)
                or item.get("type") != "emoji"
                or item.get("emoji") not in BOT_REACTIONS
            ):
                raise TelegramAPIError(400, "Bad Request: REACTION_INVALID")
        return True

    async def _set_my_commands(self, request: RecordedRequest) -> Any:
        scope = request.raw.get("scope", "")
        self._commands[f"{scope}|{request.params.get('language_code', '')}"] = request.params.get("commands")
        return True

    async def _get_my_commands(self, request: RecordedRequest) -> Any:
        scope = request.raw.get("scope", "")
        return self._commands.get(f"{scope}|{request.params.get('language_code', '')}") or []

    async def _get_chat_member(self, request: RecordedRequest) -> Any:
        chat_id = self._require_chat_id(request)
        user_id = self._require_int(request, "user_id")
        member = self._members.get((chat_id, user_id))
        if member is not None:
            return member
        user = self.bot_user if user_id == self.bot_user["id"] else self._user(user_id, "User", None, None)
        return {"status": "member", "user": user}

    async def _get_chat_administrators(self, request: RecordedRequest) -> Any:
        chat_id = self._require_chat_id(request)
        return [
            member
            for (member_chat, _), member in self._members.items()
            if member_chat == chat_id and member["status"] in ("creator", "administrator")
        ]

    async def _get_file(self, request: RecordedRequest) -> Any:
        file_id = request.params.get("file_id")
        stored = self._files.get(file_id) if isinstance(file_id, str) else None
        if stored is None:
            raise TelegramAPIError(400, "Bad Request: invalid file_id")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.data),
            "file_path": stored.file_path,
        }
