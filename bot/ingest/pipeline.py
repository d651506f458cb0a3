"""The ingestion service: bytes → parsed document → chunks → embeddings → Qdrant, all or nothing."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import PurePosixPath
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

from cachetools import TTLCache

from bot.concurrency import WorkPool
from bot.domain import DocumentInfo, SparseVector, search_text
from bot.ingest.chunking import split_into_chunks
from bot.ingest.document import ParseWarning
from bot.ingest.ocr import DEFAULT_OCR, OcrEngine, PageProgress
from bot.ingest.parsing import (
    DocumentError,
    ParsedDocument,
    UnsupportedFormatError,
    parse_document,
    parse_web_page,
)
from bot.storage.chunk_store import ChunkStore, ChunkToStore, chunk_hash

T = TypeVar("T")


class PassageEmbedder(Protocol):
    async def embed_passages(self, texts: list[str], batch_size: int = 1) -> list[list[float]]: ...


# Stages a caller may show: "parsing", "ocr" (done, total pages), "embedding" (done, total chunks), "storing".
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
    # What the parser could not read, or read only in part (issue 11); empty for an already indexed file.
    warnings: tuple[ParseWarning, ...] = ()


# How long a scope found to hold documents is believed to (s): a delete on another replica shows then.
NONEMPTY_TTL_S = 30.0


class IngestionService:
    def __init__(
        self,
        embedder: PassageEmbedder,
        sparse: SparsePassageEmbedder,
        store: ChunkStore,
        *,
        chunk_tokens: int,
        max_bytes: int,
        ocr: OcrEngine | None = DEFAULT_OCR,
        cpu: WorkPool | None = None,
    ) -> None:
        """`ocr` reads scans and images (None: they are refused as needing OCR); `cpu` is the pool
        that parses and chunks (None: asyncio's default executor)."""
        self._ocr = ocr
        self._cpu = cpu
        self._embedder = embedder
        self._sparse = sparse
        self._store = store
        self._chunk_tokens = chunk_tokens
        self.max_bytes = max_bytes
        # Scopes known to hold documents: every question asks, and a base seldom empties. Only "yes" is
        # kept, with the store's `changes` when it was read: any publish or delete through the store
        # makes it stale (a lookup that overlapped one keeps nothing); one on another replica is seen
        # within the TTL (until then a question is searched and finds nothing, as before).
        self._nonempty: TTLCache[tuple[str, ...], int] = TTLCache(maxsize=4096, ttl=NONEMPTY_TTL_S)

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
        on_page = _thread_progress(report, asyncio.get_running_loop())
        parsed = await self._off_loop(
            partial(_parse, data, file_name, web_url, content_type, self._ocr, on_page)
        )
        content_hash = hashlib.sha256(parsed.text.strip().encode("utf-8")).hexdigest()
        existing = await self._store.find_by_hash(scope, content_hash)
        if existing is not None:
            return IngestResult(existing, already_indexed=True, seconds=time.monotonic() - started)

        drafts = await self._off_loop(partial(split_into_chunks, parsed, max_tokens=self._chunk_tokens))
        # The title and section travel with the text into both vectors: chunks rarely repeat them.
        texts = [search_text(parsed.title, d.section, d.text) for d in drafts]
        hashes = [chunk_hash(parsed.title, d.section, d.text) for d in drafts]
        # A new version of a file (or a refreshed page) embeds only the chunks whose text changed.
        earlier = await self._store.documents_named(scope, parsed.file_name)
        known = await self._store.vectors_by_chunk_hash(scope, [d.doc_id for d in earlier])
        known.update(await self._embed_missing(texts, hashes, known, report))
        vectors = [known[h][0] for h in hashes]
        sparse = [known[h][1] for h in hashes]
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
            await self._store.delete_document(old.doc_id, old.scope)
        return IngestResult(
            doc,
            already_indexed=False,
            seconds=time.monotonic() - started,
            replaced=replaced,
            warnings=parsed.warnings,
        )

    async def _embed_missing(
        self,
        texts: list[str],
        hashes: list[str],
        known: dict[str, tuple[list[float], SparseVector | None]],
        report: ProgressCallback,
    ) -> dict[str, tuple[list[float], SparseVector | None]]:
        """Dense and sparse vectors of the texts whose hash is not in `known` (each distinct text once)."""
        missing = list({h: text for text, h in zip(texts, hashes, strict=True) if h not in known}.items())
        embedded: dict[str, tuple[list[float], SparseVector | None]] = {}
        for start in range(0, len(missing), PROGRESS_EVERY_CHUNKS):
            await report("embedding", start, len(missing))
            batch = missing[start : start + PROGRESS_EVERY_CHUNKS]
            batch_texts = [text for _, text in batch]
            # e5 (ONNX, off the GIL) and BM25 (Python) run side by side on their own pools.
            dense, sparse = await asyncio.gather(
                self._embedder.embed_passages(batch_texts), self._sparse.embed_passages(batch_texts)
            )
            for (h, _), d, s in zip(batch, dense, sparse, strict=True):
                embedded[h] = (d, s)
        return embedded

    async def _off_loop(self, work: Callable[[], T]) -> T:
        if self._cpu is None:
            return await asyncio.to_thread(work)
        return await self._cpu.run(work)

    async def clean_up_interrupted(self) -> None:
        """At start: drop chunks of uploads a crash left unpublished (an hour old, so not in flight)."""
        await self._store.purge_stale_pending(older_than_s=3600)
        await self.build_indexes()

    async def build_indexes(self) -> None:
        """Index what was stored since the last call (blocks the process on the embedded store: call
        it only where no chat waits, at start or at the end of a CLI run)."""
        await self._store.maintain()

    async def documents(self, scopes: list[str]) -> list[DocumentInfo]:
        return await self._store.list_documents(scopes)

    async def has_documents(self, scopes: list[str]) -> bool:
        """Whether any published document lies in `scopes` (one indexed lookup, not a listing; a "yes"
        is remembered for NONEMPTY_TTL_S seconds)."""
        key = tuple(scopes)
        changes = self._store.changes
        if self._nonempty.get(key) == changes:
            return True
        found = bool(await self._store.list_documents(scopes, limit=1))
        if found and changes == self._store.changes:  # it may have read a document deleted meanwhile
            self._nonempty[key] = changes
        return found

    async def document(self, doc_id: str, scopes: list[str]) -> DocumentInfo | None:
        """The document if it lives in one of `scopes`: another chat's ids look like missing ones."""
        doc = await self._store.get_document(doc_id)
        return doc if doc is not None and doc.scope in scopes else None

    async def delete(self, doc_id: str, scopes: list[str]) -> DocumentInfo | None:
        """Deletes a document if it lives in one of `scopes`; None when there is no such document."""
        doc = await self.document(doc_id, scopes)
        if doc is not None:
            await self._store.delete_document(doc_id, doc.scope)
        return doc


def _parse(
    data: bytes,
    file_name: str,
    web_url: str | None,
    content_type: str | None,
    ocr: OcrEngine | None,
    on_page: PageProgress,
) -> ParsedDocument:
    if web_url is None:
        return parse_document(data, file_name, ocr=ocr, on_page=on_page)
    try:
        return parse_web_page(data, web_url, content_type)
    except UnsupportedFormatError:
        # A link straight to a file (…/guide.pdf) is read as that file.
        name = PurePosixPath(urlsplit(web_url).path).name or file_name
        return parse_document(data, name, ocr=ocr, on_page=on_page)


def _thread_progress(report: ProgressCallback, loop: asyncio.AbstractEventLoop) -> PageProgress:
    """A page counter the parsing thread can call: it reports "ocr" on the loop and waits for it."""

    def on_page(done: int, total: int) -> None:
        async def send() -> None:
            await report("ocr", done, total)

        future = asyncio.run_coroutine_threadsafe(send(), loop)
        # Progress is best effort: a slow or failing report must not stop the OCR.
        with contextlib.suppress(Exception):
            future.result(timeout=30)

    return on_page


def document_id(scope: str, content_hash: str) -> str:
    """Short, stable, and the same for the same content in the same scope (so re-uploads dedupe)."""
    return hashlib.sha256(f"{scope}\n{content_hash}".encode()).hexdigest()[:12]
