"""The Python fusion: Qdrant's DBSF formula, and the guard that keeps weak sparse hits down."""

from __future__ import annotations

import pytest

from bot.domain import SparseVector, StoredChunk
from bot.embed.sparse import SparseEmbedder
from bot.rag.fusion import FULL_COVERAGE, FusionInput, dbsf_normalize, fuse_legs, term_coverage
from bot.rag.retrieval import ChunkTerms


def _chunk(doc: str, score: float) -> StoredChunk:
    return StoredChunk(doc, 0, f"Doc {doc}", f"{doc}.md", None, None, f"text of {doc}", score)


def test_dbsf_scales_a_list_to_mean_plus_minus_three_sigma() -> None:
    # mean 2, sample σ 1: 2 - 3 = -1 maps to 0, 2 + 3 = 5 maps to 1.
    assert dbsf_normalize([1.0, 2.0, 3.0]) == pytest.approx([2 / 6, 3 / 6, 4 / 6])
    assert dbsf_normalize([0.7]) == [0.5]
    assert dbsf_normalize([0.7, 0.7]) == [0.5, 0.5]
    assert dbsf_normalize([]) == []


def test_coverage_is_the_share_of_the_question_weight_a_chunk_contains() -> None:
    query = SparseVector(indices=[1, 2, 3], values=[1.0, 1.0, 0.5])
    assert term_coverage(query, {1, 3}) == pytest.approx(1.5 / 2.5)
    assert term_coverage(query, set()) == 0.0
    assert term_coverage(SparseVector(indices=[], values=[]), {1}) == 0.0


def _legs(coverage: list[float] | None) -> FusionInput:
    # The dense leg is sure of "right"; the sparse leg's best hit is "noise", which matched one
    # stray term of the question (a number, a Latin word in Russian text).
    dense = [_chunk("right", 0.90), _chunk("noise", 0.84), _chunk("c", 0.83), _chunk("d", 0.82)]
    sparse = [_chunk("noise", 9.0), _chunk("e", 3.0), _chunk("f", 2.5)]
    return FusionInput(dense, sparse, limit=3, sparse_coverage=coverage)


def test_without_coverage_it_is_qdrants_dbsf_and_a_weak_sparse_hit_wins() -> None:
    fused = fuse_legs(_legs(None))
    assert [c.doc_id for c in fused][:2] == ["noise", "right"]
    assert len(fused) == 3


def test_a_sparse_hit_sharing_little_of_the_question_no_longer_pushes_the_dense_hit_down() -> None:
    fused = fuse_legs(_legs([0.1, 0.1, 0.1]))
    assert fused[0].doc_id == "right"


def test_a_sparse_hit_that_covers_the_question_keeps_its_full_weight() -> None:
    full = fuse_legs(_legs([FULL_COVERAGE, 1.0, 1.0]))
    assert [c.doc_id for c in full] == [c.doc_id for c in fuse_legs(_legs(None))]
    assert [c.score for c in full] == pytest.approx([c.score for c in fuse_legs(_legs(None))])


def test_kept_chunk_terms_are_the_ones_bm25_derives_and_the_oldest_go_first(
    sparse_embedder: SparseEmbedder,
) -> None:
    sparse = sparse_embedder
    texts = ["Возврат товара в течение 14 дней", "Refunds take 14 days", "Гарантия два года"]
    terms = ChunkTerms(sparse, capacity=2)
    derived = [sorted(v.indices) for v in sparse.embed_passages_sync(texts)]
    assert [sorted(t.tolist()) for t in terms.of(texts[:2])] == derived[:2]
    # Asked again (from the cache) and beside a new text: the same terms, in the order asked.
    assert [sorted(t.tolist()) for t in terms.of([texts[2], texts[0]])] == [derived[2], derived[0]]
    assert len(terms) == 2  # the least recently used text ("Refunds…") was dropped
    assert [sorted(t.tolist()) for t in terms.of([texts[1]])] == [derived[1]]
