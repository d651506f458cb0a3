"""Fusing the dense (e5) and sparse (BM25) result lists in Python, with a guard on weak sparse hits.

Qdrant's DBSF scales each list to mean ± 3σ and sums: the best sparse hit always scores about as
much as the best dense one, however little of the question it matched. A question in English over
Russian documents shares only a number or a stray Latin word with them, so its sparse list is
noise that DBSF ranks as high as real matches, and good dense hits are pushed down. Here each
sparse hit's DBSF score is scaled by the share of the question's terms the chunk contains, up to
full weight at `FULL_COVERAGE`. A same-language match, which shares most terms, keeps its weight.
Measured on XQuAD (README, "Cross-lingual retrieval").
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from bot.domain import SparseVector, StoredChunk

# A sparse hit containing at least this share of the question's (weighted) terms counts in full;
# below it, in proportion. 0.2-0.5 measured within 0.003 of each other; 0.3 was best overall.
FULL_COVERAGE = 0.3


@dataclass(frozen=True)
class FusionInput:
    """The two legs of a hybrid search, each best first with its own raw scores."""

    dense: Sequence[StoredChunk]  # cosine
    sparse: Sequence[StoredChunk]  # BM25 with Qdrant's IDF
    limit: int  # chunks to return
    # Per sparse hit, the share of the question's terms it contains (0..1); None: no guard.
    sparse_coverage: Sequence[float] | None = None


def dbsf_normalize(scores: Sequence[float]) -> list[float]:
    """Distribution-based score normalisation as Qdrant does it: (s - (μ - 3σ)) / 6σ, sample σ.

    A single score, or all-equal ones, become 0.5 (Qdrant's choice). Same length as `scores`.
    """
    if len(scores) < 2:
        return [0.5] * len(scores)
    mean = sum(scores) / len(scores)
    std = (sum((s - mean) ** 2 for s in scores) / (len(scores) - 1)) ** 0.5
    if std == 0:
        return [0.5] * len(scores)
    return [(s - mean + 3 * std) / (6 * std) for s in scores]


def term_coverage(query: SparseVector, chunk_terms: Collection[int]) -> float:
    """The share of the query's term weight (0..1) whose terms occur in the chunk; 0 for no terms."""
    total = sum(query.values)
    if total <= 0:
        return 0.0
    found = sum(w for term, w in zip(query.indices, query.values, strict=True) if term in chunk_terms)
    return found / total


def fuse_legs(legs: FusionInput) -> list[StoredChunk]:
    """DBSF over both legs, each sparse hit weighed by its term coverage; best `legs.limit` first.

    Scores are summed per chunk (a chunk missing from a leg gets 0 there); the returned chunks
    carry the fused score. Without `sparse_coverage` this is exactly Qdrant's DBSF.
    """
    return fuse_queries([legs])


def fuse_queries(queries: Sequence[FusionInput]) -> list[StoredChunk]:
    """`fuse_legs` over the legs of several queries at once (a question and its translation):
    every leg of every query is DBSF-normalised on its own and the scores are summed per chunk.

    Returns the best `queries[0].limit` chunks, best first; [] for no queries.
    """
    if not queries:
        return []
    fused: dict[tuple[str, int], float] = {}
    chunks: dict[tuple[str, int], StoredChunk] = {}
    for legs in queries:
        coverage = legs.sparse_coverage
        if coverage is None:
            sparse_weights = [1.0] * len(legs.sparse)
        else:
            sparse_weights = [min(1.0, share / FULL_COVERAGE) for share in coverage]
        for leg, weights in ((legs.dense, [1.0] * len(legs.dense)), (legs.sparse, sparse_weights)):
            normalized = dbsf_normalize([c.score for c in leg])
            for chunk, score, weight in zip(leg, normalized, weights, strict=True):
                key = (chunk.doc_id, chunk.chunk_index)
                fused[key] = fused.get(key, 0.0) + score * weight
                chunks[key] = chunk
    ranked = sorted(fused, key=lambda key: -fused[key])[: queries[0].limit]
    return [dataclasses.replace(chunks[key], score=fused[key]) for key in ranked]
