"""Knowledge bases of 2k-50k chunks for the load benchmark, built in seconds instead of hours.

Texts are real XQuAD paragraphs (Russian and English); each paragraph is embedded once (e5 and BM25,
as ingestion would) and reused for many chunks, its dense vector slightly perturbed so no two points
are equal. The chunks go in through the bot's own composition root and the store's public API
(`store_document`), so the benchmark runs against whichever store the bot uses.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot.app import open_knowledge_base, run_migrations
from bot.config import Settings
from bot.domain import GLOBAL_SCOPE, DocumentInfo, SparseVector, search_text
from bot.embed.embedder import Embedder
from bot.embed.sparse import SparseEmbedder
from bot.storage.chunk_store import ChunkToStore

CHUNKS_PER_DOCUMENT = 1000
_NOISE = 0.02  # per-dimension σ before re-normalising: neighbours stay neighbours


@dataclass(frozen=True)
class Paragraph:
    title: str
    text: str
    dense: list[float]
    sparse: SparseVector


def read_xquad(xquad: Path) -> tuple[list[tuple[str, str]], list[str]]:
    """(title, paragraph) pairs and the questions, Russian then English."""
    paragraphs: list[tuple[str, str]] = []
    questions: list[str] = []
    for language in ("ru", "en"):
        data = json.loads((xquad / f"xquad.{language}.json").read_text(encoding="utf-8"))
        for article in data["data"]:
            for paragraph in article["paragraphs"]:
                paragraphs.append((article["title"], paragraph["context"].lstrip("\ufeff")))
                questions += [qa["question"] for qa in paragraph["qas"]]
    return paragraphs, questions


async def embed_paragraphs(
    pairs: list[tuple[str, str]], embedder: Embedder, sparse: SparseEmbedder
) -> list[Paragraph]:
    texts = [search_text(title, None, text) for title, text in pairs]
    dense = await embedder.embed_passages(texts)
    lexical = await sparse.embed_passages(texts)
    return [Paragraph(title, text, d, s) for (title, text), d, s in zip(pairs, dense, lexical, strict=True)]


async def build(
    settings: Settings,
    chunks: int,
    paragraphs: list[Paragraph],
    embedder: Embedder,
    sparse: SparseEmbedder,
    *,
    already: int = 0,
) -> float:
    """Fills the store `settings` names up to `chunks` chunks, of which the first `already` are there
    (a copy of a smaller base); returns the seconds it took."""
    started = time.perf_counter()
    await run_migrations(settings, embedder, sparse)
    rng = np.random.default_rng(9 + already)
    async with open_knowledge_base(settings, embedder, sparse) as (_, store, _):
        for number in range(already // CHUNKS_PER_DOCUMENT, math.ceil(chunks / CHUNKS_PER_DOCUMENT)):
            first = number * CHUNKS_PER_DOCUMENT
            size = min(CHUNKS_PER_DOCUMENT, chunks - first)
            doc = DocumentInfo(
                doc_id=f"load{number:04d}",
                scope=GLOBAL_SCOPE,
                title=f"XQuAD {number}",
                file_name=f"xquad-{number}.txt",
                kind="txt",
                pages=None,
                chunks=size,
                content_hash=f"load-{number}",
                uploaded_by=None,
                uploaded_at=time.time(),
            )
            batch: list[ChunkToStore] = []
            for index in range(size):
                source = paragraphs[(first + index) % len(paragraphs)]
                vector = np.asarray(source.dense) + rng.normal(0.0, _NOISE, len(source.dense))
                batch.append(
                    ChunkToStore(
                        index=index,
                        # A line of its own keeps copies of one paragraph apart when documents are merged.
                        text=f"{source.text}\n\n({source.title}, {first + index})",
                        page=None,
                        section=source.title,
                        vector=(vector / np.linalg.norm(vector)).tolist(),
                        sparse=source.sparse,
                    )
                )
            await store.store_document(doc, batch)
    return time.perf_counter() - started
