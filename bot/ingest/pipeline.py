"""The ingestion service: bytes → parsed document → chunks → embeddings → Qdrant, all or nothing."""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass
from typing import Protocol

from bot.domain import DocumentInfo, SparseVector, search_text
from bot.ingest.chunking import split_into_chunks
from bot.ingest.parsing import DocumentError, ParsedDocument, parse_document
from bot.storage.chunk_store import ChunkStore, ChunkToStore


class PassageEmbedder(Protocol):
    async def embed_passages(self, texts: list[str], batch_size: int = 1) -> list[list[float]]: ...


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


class IngestionService:
    def __init__(
        self,
        embedder: PassageEmbedder,
        sparse: SparsePassageEmbedder,
        store: ChunkStore,
        *,
        chunk_chars: int,
        max_bytes: int,
    ) -> None:
        self._embedder = embedder
        self._sparse = sparse
        self._store = store
        self._chunk_chars = chunk_chars
        self.max_bytes = max_bytes

    async def ingest(
        self, data: bytes, file_name: str, *, scope: str, uploaded_by: int | None
    ) -> IngestResult:
        """Index one file. Raises DocumentError subclasses for input the user must fix."""
        started = time.monotonic()
        if len(data) > self.max_bytes:
            raise FileTooLargeError(len(data), self.max_bytes)
        # Parsing and splitting are CPU-bound: keep them off the event loop.
        parsed: ParsedDocument = await asyncio.to_thread(parse_document, data, file_name)
        content_hash = hashlib.sha256(parsed.text.strip().encode("utf-8")).hexdigest()
        existing = await self._store.find_by_hash(scope, content_hash)
        if existing is not None:
            return IngestResult(existing, already_indexed=True, seconds=time.monotonic() - started)

        drafts = await asyncio.to_thread(split_into_chunks, parsed, self._chunk_chars)
        # The title and section travel with the text into both vectors: chunks rarely repeat them.
        texts = [search_text(parsed.title, d.section, d.text) for d in drafts]
        vectors = await self._embedder.embed_passages(texts)
        sparse = await self._sparse.embed_passages(texts)
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
        )
        chunks = [
            ChunkToStore(index=i, text=d.text, page=d.page, section=d.section, vector=v, sparse=s)
            for i, (d, v, s) in enumerate(zip(drafts, vectors, sparse, strict=True))
        ]
        await self._store.store_document(doc, chunks)
        return IngestResult(doc, already_indexed=False, seconds=time.monotonic() - started)

    async def clean_up_interrupted(self) -> None:
        """At start: drop chunks of uploads a crash left unpublished (an hour old, so not in flight)."""
        await self._store.purge_stale_pending(older_than_s=3600)

    async def documents(self, scopes: list[str]) -> list[DocumentInfo]:
        return await self._store.list_documents(scopes)

    async def delete(self, doc_id: str, scopes: list[str]) -> DocumentInfo | None:
        """Deletes a document if it lives in one of `scopes`; None when there is no such document."""
        doc = await self._store.get_document(doc_id)
        if doc is None or doc.scope not in scopes:
            return None
        await self._store.delete_document(doc_id)
        return doc


def document_id(scope: str, content_hash: str) -> str:
    """Short, stable, and the same for the same content in the same scope (so re-uploads dedupe)."""
    return hashlib.sha256(f"{scope}\n{content_hash}".encode()).hexdigest()[:12]
