"""Plain data shared by services and adapters; no I/O here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

GLOBAL_SCOPE = "global"


def chat_scope(chat_id: int) -> str:
    """The knowledge scope of one chat; only that chat (and nobody else) may read it."""
    return f"chat:{chat_id}"


def scopes_for_chat(chat_id: int | None, *, include_global: bool = True) -> list[str]:
    """What a chat may read: its own scope, plus the global base unless the chat turned it off."""
    scopes = [GLOBAL_SCOPE] if include_global or chat_id is None else []
    return scopes if chat_id is None else [*scopes, chat_scope(chat_id)]


AnswerLanguage = Literal["auto", "ru", "en"]


@dataclass(frozen=True)
class ChatPreferences:
    """Per-chat settings its admins change with /settings; the defaults suit a new chat."""

    language: AnswerLanguage = "auto"  # auto: answer in the question's language
    show_sources: bool = True
    reply_not_found: bool = True  # groups: say "not found", or stay silent
    use_global: bool = True  # groups: search the global knowledge base too
    stream_in_groups: bool = False  # groups: show the answer as it is written (issue 10)


@dataclass(frozen=True)
class DocumentInfo:
    doc_id: str
    scope: str
    title: str
    file_name: str
    kind: str
    pages: int | None
    chunks: int
    content_hash: str
    uploaded_by: int | None
    uploaded_at: float
    uploader_name: str | None = None


@dataclass(frozen=True)
class StoredChunk:
    """A chunk as retrieval returns it: enough to show the model and to cite."""

    doc_id: str
    chunk_index: int
    title: str
    file_name: str
    page: int | None
    section: str | None
    text: str
    score: float


@dataclass(frozen=True)
class SparseVector:
    """A sparse (lexical) vector: term ids and their weights, as BM25 makes them."""

    indices: list[int]
    values: list[float]


Fusion = Literal["dbsf", "rrf"]


@dataclass(frozen=True)
class SearchQuery:
    """One chunk search: a dense vector, a sparse vector, or both fused by Qdrant in one query."""

    dense: list[float] | None = None
    sparse: SparseVector | None = None
    fusion: Fusion = "dbsf"
    # Candidates each side hands to the fusion: enough for recall, few enough that DBSF's
    # normalisation (mean ± 3σ of each list) describes the head of the list.
    prefetch_limit: int = 20


@dataclass(frozen=True)
class Turn:
    role: Literal["user", "assistant"]
    content: str
    speaker: str | None = None  # who asked, in group chats

    def for_model(self) -> str:
        """What the model reads: in groups the asker's name, so follow-ups from several people make sense.

        Retrieval reads `content` alone, so names never become search terms.
        """
        return f"{self.speaker}: {self.content}" if self.speaker else self.content


class LLMUnavailableError(Exception):
    """The model server could not be reached or failed; the user is told to try later."""


def heading_path(title: str, section: str | None) -> str:
    """ "Title › Section", without repeating the title when the section path already starts with it."""
    if not section or section == title:
        return title
    if section.startswith(f"{title} › "):
        return section
    return f"{title} › {section}"


def search_text(title: str, section: str | None, text: str) -> str:
    """What a chunk is indexed by (dense and sparse): its heading path, then its text."""
    return f"{heading_path(title, section)}\n{text}"


def section_within(title: str, section: str | None) -> str | None:
    """The section path below the document title, for source lines that already show the title."""
    if not section or section == title:
        return None
    return section.removeprefix(f"{title} › ")


@dataclass(frozen=True)
class WebSource:
    """A web page in the knowledge base that is re-checked (issue 11): what was asked for, what it
    became, and what the next conditional request sends."""

    url: str  # as the admin gave it (before redirects)
    scope: str
    doc_id: str  # the document it is indexed as now
    checked_at: float  # Unix time of the last check, successful or not
    content_hash: str = ""  # sha256 of the bytes last fetched
    etag: str | None = None
    last_modified: str | None = None
    uploaded_by: int | None = None
    uploader_name: str | None = None
    last_error: str | None = None  # why the last check failed (the indexed copy stays)


class TelegramUnreachableError(Exception):
    """The Bot API server could not be reached at start (DNS, refused connection, timeout)."""


class RedisUnreachableError(Exception):
    """Redis could not be reached at start (refused connection, unknown host, timeout, wrong password).

    Its message is one line for the operator: the setting and the address (never a password), the
    reason, and what to do.
    """
