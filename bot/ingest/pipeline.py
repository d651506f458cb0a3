"""The ingestion service: bytes → parsed document → chunks → embeddings → Qdrant, all or nothing."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import PurePosixPath
from typing import Any, Protocol
from urllib.parse import urlsplit

from bot.domain import DocumentInfo, SparseVector, search_text
from bot.ingest.chunking import split_into_chunks
from bot.ingest.parsing import (
    DocumentError,
    ParsedDocument,
    UnsupportedFormatError,
    parse_document,
    parse_web_page,
)
from bot.storage.chunk_store import ChunkStore, ChunkToStore


class PassageEmbedder(Protocol):
    async def embed_passages(self, texts: list[str], batch_size: int = 1) -> list[list[float]]: ...


# Stages a caller may show: "parsing", "embedding" (done, total chunks), "storing".
ProgressCallback = Callable[[Any, int, int], Awaitable[None]]
# Embedding is the slow part; report it in steps this big.
PROGRESS_EVERY_CHUNKS = 16


async def _no_progress(stage: str, done: int, total: int) -> None:
    return None


class SparsePassageEmbedder(Protocol):
    async def embed_passages(self, texts: list[str]) -> list[SparseVector]: ...


class FileTooLargeError(DocumentError):
    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"file is {size} bytes, the limit is {limit}")
        self.size = size
        self.limit = limit


@dataclass(frozen=True)
class IngestResult:
    document: DocumentInfo
    already_indexed: bool
    seconds: float
    replaced: list[DocumentInfo] = field(default_factory=list)  # older versions of the same file


class IngestionService:
    def __init__(
        self,
        embedder: PassageEmbedder,
        sparse: SparsePassageEmbedder,
        store: ChunkStore,
        *,
        chunk_tokens: int,
        max_bytes: int,
    ) -> None:
        self._embedder = embedder
        self._sparse = sparse
        self._store = store
        self._chunk_tokens = chunk_tokens
        self.max_bytes = max_bytes

    async def ingest(
        self,
        data: bytes,
        file_name: str,
        *,
        scope: str,
        uploaded_by: int | None,
        uploader_name: str | None = None,
        progress: ProgressCallback | None = None,
        web_url: str | None = None,
        content_type: str | None = None,
    ) -> IngestResult:
        """Index one file, or a fetched web page when `web_url` is set.

        Raises DocumentError subclasses for input the user must fix.
        """
        started = time.monotonic()
        report = progress or _no_progress
        if len(data) > self.max_bytes:
            raise FileTooLargeError(len(data), self.max_bytes)
        await report("parsing", 0, 0)
        # Parsing and splitting are CPU-bound: keep them off the event loop.
        parsed = await asyncio.to_thread(_parse, data, file_name, web_url, content_type)
        content_hash = hashlib.sha256(parsed.text.strip().encode("utf-8")).hexdigest()
        existing = await self._store.find_by_hash(scope, content_hash)
        if existing is not None:
            return IngestResult(existing, already_indexed=True, seconds=time.monotonic() - started)

        drafts = await asyncio.to_thread(partial(split_into_chunks, parsed, max_tokens=self._chunk_tokens))
        # The title and section travel with the text into both vectors: chunks rarely repeat them.
        texts = [search_text(parsed.title, d.section, d.text) for d in drafts]
        vectors: list[list[float]] = []
        sparse: list[SparseVector] = []
        for start in range(0, len(texts), PROGRESS_EVERY_CHUNKS):
            await report("embedding", start, len(texts))
            batch = texts[start : start + PROGRESS_EVERY_CHUNKS]
            vectors += await self._embedder.embed_passages(batch)
            sparse += await self._sparse.embed_passages(batch)
        doc = DocumentInfo(
            doc_id=document_id(scope, content_hash),
            scope=scope,
            title=parsed.title,
            file_name=parsed.file_name,
            kind=parsed.kind,
            pages=parsed.pages,
            chunks=len(drafts),
            content_hash=content_hash,
            uploaded_by=uploaded_by,
            uploaded_at=time.time(),
            uploader_name=uploader_name,
        )
        chunks = [
            ChunkToStore(index=i, text=d.text, page=d.page, section=d.section, vector=v, sparse=s)
            for i, (d, v, s) in enumerate(zip(drafts, vectors, sparse, strict=True))
        ]
        await report("storing", len(texts), len(texts))
        await self._store.store_document(doc, chunks)
        # A new version of a file replaces the old one, which goes only now that the new one is searchable.
        replaced = [
            d for d in await self._store.documents_named(scope, doc.file_name) if d.doc_id != doc.doc_id
        ]
        for old in replaced:
            await self._store.delete_document(old.doc_id)
        return IngestResult(doc, already_indexed=False, seconds=time.monotonic() - started, replaced=replaced)

    async def clean_up_interrupted(self) -> None:
        """At start: drop chunks of uploads a crash left unpublished (an hour old, so not in flight)."""
        await self._store.purge_stale_pending(older_than_s=3600)

    async def documents(self, scopes: list[str]) -> list[DocumentInfo]:
        return await self._store.list_documents(scopes)

    async def has_documents(self, scopes: list[str]) -> bool:
        """Whether any published document lies in `scopes` (one indexed lookup, not a listing)."""
        return bool(await self._store.list_documents(scopes, limit=1))

    async def document(self, doc_id: str, scopes: list[str]) -> DocumentInfo | None:
        """The document if it lives in one of `scopes`: another chat's ids look like missing ones."""
        doc = await self._store.get_document(doc_id)
        return doc if doc is not None and doc.scope in scopes else None

    async def delete(self, doc_id: str, scopes: list[str]) -> DocumentInfo | None:
        """Deletes a document if it lives in one of `scopes`; None when there is no such document."""
        doc = await self.document(doc_id, scopes)
        if doc is not None:
            await self._store.delete_document(doc_id)
        return doc


def _parse(data: bytes, file_name: str, web_url: str | None, content_type: str | None) -> ParsedDocument:
    if web_url is None:
        return parse_document(data, file_name)
    try:
        return parse_web_page(data, web_url, content_type)
    except UnsupportedFormatError:
        # A link straight to a file (…/guide.pdf) is read as that file.
        return parse_document(data, PurePosixPath(urlsplit(web_url).path).name or file_name)


def document_id(scope: str, content_hash: str) -> str:
    """Short, stable, and the same for the same content in the same scope (so re-uploads dedupe)."""
    return hashlib.sha256(f"{scope}\n{content_hash}".encode()).hexdigest()[:12]
