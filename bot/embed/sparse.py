"""BM25 sparse vectors (fastembed's Bm25) with Russian and English stemming in one vector.

Each word is stemmed by the Snowball stemmer of its own script: Cyrillic words by the Russian one,
all others by the English one. So one vector serves Russian, English and mixed text (Russian prose
with English product names), and a query needs no language detection. Measured on XQuAD, this
matched the better single-language stemmer in both languages (README, Benchmarks).

The vector holds only term frequencies (k1, b); Qdrant multiplies in the IDF at query time
(`Modifier.IDF`), so IDF always reflects the current collection.
"""

from __future__ import annotations

import asyncio
import copy
import re
from collections.abc import Sequence
from pathlib import Path

from fastembed.sparse.bm25 import Bm25
from fastembed.sparse.sparse_embedding_base import SparseEmbedding
from py_rust_stemmers import SnowballStemmer

from bot.concurrency import WorkPool
from bot.domain import SparseVector

# Bumped whenever tokens change: stored vectors made otherwise would not match new queries.
SPARSE_MODEL = "bm25-ru-en-snowball-v1"

# Stopword lists in the layout fastembed expects; the folder doubles as the offline "model folder",
# so fastembed never tries the model hub for Qdrant/bm25.
STOPWORDS_DIR = Path(__file__).resolve().parent / "stopwords"

_CYRILLIC = re.compile("[а-я]")
# The Russian stemmer leaves words with "ё" alone ("ёлка" stays, "елка" → "елк"), and texts spell
# it either way.
_YO = str.maketrans("ёЁ", "еЕ")
# Codes with digits such as ERR-4512 or KB-12.3: the tokenizer splits them at the punctuation,
# so each also gets one joined token ("ERR4512") that matches only the whole code.
_CODE = re.compile(r"(?<![\w-])\w+(?:[-./:]\w+)+")
_CODE_SEPARATORS = re.compile(r"[-./:]")


class BilingualStemmer:
    def __init__(self) -> None:
        self._russian = SnowballStemmer("russian")
        self._english = SnowballStemmer("english")

    def stem_word(self, word: str) -> str:
        stemmer = self._russian if _CYRILLIC.search(word) else self._english
        return str(stemmer.stem_word(word))


def _prepare(text: str) -> str:
    text = text.translate(_YO)
    codes = [
        _CODE_SEPARATORS.sub("", code)
        for code in _CODE.findall(text)
        if any(ch.isdigit() for ch in code) and any(ch.isalpha() for ch in code)
    ]
    return f"{text} {' '.join(codes)}" if codes else text


def _stopwords() -> set[str]:
    words: set[str] = set()
    for language in ("russian", "english"):
        text = (STOPWORDS_DIR / f"{language}.txt").read_text(encoding="utf-8")
        words |= {w.strip().translate(_YO) for w in text.splitlines() if w.strip()}
    return words


class SparseEmbedder:
    def __init__(self) -> None:
        self.model_name = SPARSE_MODEL
        self._model = Bm25(
            "Qdrant/bm25",
            specific_model_path=str(STOPWORDS_DIR),
            local_files_only=True,
            stemmer=BilingualStemmer(),
            stopwords=_stopwords(),
        )
        self._pool: WorkPool | None = None

    def on(self, pool: WorkPool) -> SparseEmbedder:
        """The same encoder, run on `pool` instead of asyncio's default executor."""
        view = copy.copy(self)
        view._pool = pool
        return view

    async def embed_passages(self, texts: Sequence[str]) -> list[SparseVector]:
        # Pure Python, ~1 ms per 1,500-character chunk: a long document still leaves the event loop.
        if self._pool is None:
            return await asyncio.to_thread(self.embed_passages_sync, texts)
        return await self._pool.run(self.embed_passages_sync, texts)

    def embed_passages_sync(self, texts: Sequence[str]) -> list[SparseVector]:
        return [_to_vector(e) for e in self._model.embed([_prepare(t) for t in texts])]

    def embed_query(self, text: str, context: str = "", context_weight: float = 0.5) -> SparseVector:
        """The question's terms at weight 1; terms only the context has at `context_weight`."""
        weights: dict[int, float] = {}
        if context:
            for index in self._query_terms(context):
                weights[index] = context_weight
        for index in self._query_terms(text):
            weights[index] = 1.0
        return SparseVector(indices=list(weights), values=list(weights.values()))

    def _query_terms(self, text: str) -> list[int]:
        return _to_vector(next(iter(self._model.query_embed(_prepare(text))))).indices


def _to_vector(embedding: SparseEmbedding) -> SparseVector:
    return SparseVector(
        indices=[int(i) for i in embedding.indices], values=[float(v) for v in embedding.values]
    )
