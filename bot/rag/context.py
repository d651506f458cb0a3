"""What goes into the prompt: ranked chunks → at most N documents within a token budget.

Vikhr-Nemo was trained on about six documents of up to ~4,000 characters. Neighbouring chunks of
one section are merged back into one document (the model reads them as one text, and the overlap
the splitter added is said once), near-duplicates (the same text uploaded twice, or one chunk
contained in another) are dropped, and the documents stop where the budget ends. Higher-ranked
chunks are placed first, so the budget always cuts the least relevant text.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from cachetools import LRUCache, cached

from bot.domain import StoredChunk

# Tekken (Mistral-Nemo's tokenizer) reads ~3.9 Russian and ~4.5 English characters per token;
# 3.5 errs on the safe side without a tokenizer dependency.
CHARS_PER_TOKEN = 3.5
# Share of one chunk's word 3-grams found in another above which it adds nothing new.
_DUPLICATE_SHARE = 0.8
# The splitter's overlap is max_chars / 10; a longer common stretch is searched needlessly, and a
# shorter one than a few words is a coincidence ("…a" + "a…"), not an overlap.
_MAX_OVERLAP_CHARS = 600
_MIN_OVERLAP_CHARS = 20
_WORD = re.compile(r"\w+")
# Chunks whose shingles are kept: the same popular chunks come back question after question. Hashed
# shingles of one chunk take ~15 KB, so 1,024 of them ~15 MB.
_SHINGLED_CHUNKS = 1024


@dataclass(frozen=True)
class ContextBudget:
    max_documents: int = 6
    max_tokens: int = 4000
    document_max_chars: int = 4000

    @property
    def max_chars(self) -> int:
        return int(self.max_tokens * CHARS_PER_TOKEN)


@dataclass
class _Group:
    chunks: list[StoredChunk]
    shingles: list[frozenset[int]]

    @property
    def first(self) -> StoredChunk:
        return self.chunks[0]

    def text(self) -> str:
        return merge_texts([c.text for c in sorted(self.chunks, key=lambda c: c.chunk_index)])

    def is_adjacent(self, chunk: StoredChunk) -> bool:
        first = self.first
        if (chunk.doc_id, chunk.page, chunk.section) != (first.doc_id, first.page, first.section):
            return False
        indices = [c.chunk_index for c in self.chunks]
        return chunk.chunk_index in (min(indices) - 1, max(indices) + 1)


def assemble_context(candidates: Sequence[StoredChunk], budget: ContextBudget) -> list[StoredChunk]:
    """Ranked chunks → the documents for the model, best first; merged chunks become one."""
    groups: list[_Group] = []
    used_chars = 0
    for chunk in candidates:
        neighbour = next((g for g in groups if g.is_adjacent(chunk)), None)
        if neighbour is None and (
            len(groups) >= budget.max_documents
            or (groups and used_chars + len(chunk.text) > budget.max_chars)
        ):
            continue  # no room for it whether or not it repeats a document: skip its shingles
        shingles = _shingles(chunk.text)
        if any(_is_duplicate(shingles, seen) for group in groups for seen in group.shingles):
            continue
        if neighbour is not None:
            before = len(neighbour.text())
            merged = merge_texts(
                [c.text for c in sorted([*neighbour.chunks, chunk], key=lambda c: c.chunk_index)]
            )
            grown = len(merged) - before
            if len(merged) <= budget.document_max_chars and used_chars + grown <= budget.max_chars:
                neighbour.chunks.append(chunk)
                neighbour.shingles.append(shingles)
                used_chars += grown
            continue
        # (Checked above: room for one more document; the first always goes in, a question deserves
        # at least its best match.)
        groups.append(_Group([chunk], [shingles]))
        used_chars += len(chunk.text)
    return [_as_chunk(group) for group in groups]


def merge_texts(texts: Sequence[str]) -> str:
    """Consecutive chunks joined, with the overlap the splitter repeated said only once."""
    merged = texts[0] if texts else ""
    for text in texts[1:]:
        overlap = _overlap(merged, text)
        merged = merged + text[overlap:] if overlap else f"{merged}\n\n{text}"
    return merged


def _overlap(left: str, right: str) -> int:
    for size in range(min(len(left), len(right), _MAX_OVERLAP_CHARS), _MIN_OVERLAP_CHARS - 1, -1):
        if left.endswith(right[:size]):
            return size
    return 0


@cached(
    LRUCache(maxsize=_SHINGLED_CHUNKS),
    # Keyed by a digest, so the cache keeps no chunk text; locked, as the CPU pool may call it too.
    key=lambda text: hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest(),
    lock=threading.Lock(),
)
def _shingles(text: str) -> frozenset[int]:
    """The chunk's word 3-grams, hashed (a collision only makes two chunks look a shingle closer)."""
    words = _WORD.findall(text.lower())
    if len(words) < 3:
        return frozenset({hash(tuple(words))})
    return frozenset(map(hash, zip(words, words[1:], words[2:], strict=False)))


def _is_duplicate(a: frozenset[int], b: frozenset[int]) -> bool:
    smaller = min(len(a), len(b))
    return smaller > 0 and len(a & b) / smaller >= _DUPLICATE_SHARE


def _as_chunk(group: _Group) -> StoredChunk:
    ordered = sorted(group.chunks, key=lambda c: c.chunk_index)
    return dataclasses.replace(ordered[0], text=group.text(), score=max(c.score for c in group.chunks))
