"""Where a reply goes: the chat, its forum topic, the message it answers and who asked."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Target:
    """`user_id` receives ephemeral notices in groups; `private` chats get drafts instead of edits."""

    chat_id: int
    user_id: int
    reply_to: int | None = None
    thread_id: int | None = None
    private: bool = True
