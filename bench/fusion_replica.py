"""A fast replica of hybrid retrieval on cached vectors, to explore fusion ideas in seconds.

The full benchmark (`python -m bot bench retrieval`) takes 10+ minutes on 2 shared cores, almost all
of it e5 and embedded Qdrant's Python scans. This helper runs the bot's own ingestion and embeds
every XQuAD question once (`--build`, ~2 minutes), stores the chunks' and questions' vectors in
bench/results/ (git-ignored), then replays both search legs in NumPy the way Qdrant scores them:
cosine for e5, BM25 term weights times Qdrant's IDF (`ln((N - df + 0.5) / (df + 0.5) + 1)`, over
the whole collection) for the sparse leg, points without a common term left out. Each leg's
list goes through the fusion under test, then through the bot's own `assemble_context`, and the
ranks are scored as the benchmark scores them, in the same four directions.

    python -m bench.fusion_replica --build     # once
    python -m bench.fusion_replica             # every fusion variant, one table
    python -m bench.fusion_replica --only oracle   # query translation with a perfect translation
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import functools
import json
import pickle
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from bench.retrieval import (
    DEFAULT_MODEL_PATH,
    DEFAULT_XQUAD,
    DIRECTIONS,
    LANGUAGES,
    REPO_ROOT,
    Question,
    expected_paragraphs,
    ingest_paragraphs,
    load_xquad,
    open_corpus,
    paragraph_scope,
)
from bot.domain import GLOBAL_SCOPE, SparseVector, StoredChunk, chat_scope
from bot.rag.context import ContextBudget, assemble_context
from bot.rag.fusion import FULL_COVERAGE, FusionInput, fuse_legs, fuse_queries, term_coverage
from bot.rag.language import Language
from bot.rag.language import detect_language as _detect_language
from bot.rag.retrieval import CANDIDATES_PER_DOCUMENT


@functools.cache
def detect_language(text: str) -> Language:
    return _detect_language(text)


CACHE = REPO_ROOT / "bench" / "results" / "fusion_cache.pkl"
RANKS_FILE = REPO_ROOT / "bench" / "results" / "fusion_ranks.json"
PREFETCH = 20  # SearchQuery.prefetch_limit
Vector = npt.NDArray[np.float32]
# A fusion under test: the two legs' lists (best first, raw scores) → the chunks it ranks first.
FusionFn = Callable[[FusionInput, "CachedQuestion"], list[StoredChunk]]


@dataclass
class CachedQuestion:
    question: Question
    dense: list[float]
    sparse: tuple[list[int], list[float]]


async def build_cache(xquad: Path, model_path: Path | None) -> dict[str, Any]:
    corpus = await open_corpus(model_path)
    try:
        data = {lang: load_xquad(xquad, lang) for lang in LANGUAGES}
        for lang, (paragraphs, _) in data.items():
            await ingest_paragraphs(corpus, paragraphs, paragraph_scope(lang))
        points: list[Any] = []
        offset: Any = None
        while True:
            batch, offset = await corpus.backend.scroll([], 256, offset, with_vectors=True)
            points += batch
            if offset is None:
                break
        chunks = []
        for point in points:
            payload = point.payload
            assert point.dense is not None
            assert point.sparse is not None
            sparse = point.sparse
            chunks.append(
                {
                    "chunk": StoredChunk(
                        doc_id=payload["doc_id"],
                        chunk_index=payload["chunk_index"],
                        title=payload["title"],
                        file_name=payload["file_name"],
                        page=payload.get("page"),
                        section=payload.get("section"),
                        text=payload["text"],
                        score=0.0,
                    ),
                    "scope": payload["scope"],
                    "dense": point.dense,
                    "sparse": (list(sparse.indices), list(sparse.values)),
                }
            )
        questions: dict[str, list[CachedQuestion]] = {}
        for lang, (_, asked) in data.items():
            questions[lang] = []
            for question in asked:
                sparse_query = corpus.sparse.embed_query(question.text)
                questions[lang].append(
                    CachedQuestion(
                        question,
                        await corpus.embedder.embed_query(question.text),
                        (sparse_query.indices, sparse_query.values),
                    )
                )
        return {"chunks": chunks, "questions": questions}
    finally:
        await corpus.close()


class Replica:
    """Both search legs over the cached chunks, scored as Qdrant scores them."""

    def __init__(self, cache: dict[str, Any]) -> None:
        self.chunks: list[StoredChunk] = [c["chunk"] for c in cache["chunks"]]
        self.scopes = np.array([c["scope"] for c in cache["chunks"]])
        self.dense: Vector = np.array([c["dense"] for c in cache["chunks"]], dtype=np.float32)
        self.postings: dict[int, list[tuple[int, float]]] = {}
        for row, c in enumerate(cache["chunks"]):
            for term, weight in zip(*c["sparse"], strict=True):
                self.postings.setdefault(term, []).append((row, weight))
        n = len(self.chunks)
        self.idf = {
            t: float(np.log((n - len(p) + 0.5) / (len(p) + 0.5) + 1)) for t, p in self.postings.items()
        }

    def mask(self, scopes: Sequence[str]) -> npt.NDArray[np.bool_]:
        return np.isin(self.scopes, list(scopes))

    def dense_leg(self, query: Sequence[float], mask: npt.NDArray[np.bool_], limit: int) -> list[StoredChunk]:
        scores = self.dense @ np.asarray(query, dtype=np.float32)
        scores[~mask] = -np.inf
        order = np.argsort(-scores, kind="stable")[:limit]
        return [self._scored(int(i), float(scores[i])) for i in order if np.isfinite(scores[i])]

    def sparse_leg(
        self, query: tuple[list[int], list[float]], mask: npt.NDArray[np.bool_], limit: int
    ) -> list[StoredChunk]:
        scores: dict[int, float] = {}
        for term, weight in zip(*query, strict=True):
            idf = self.idf.get(term, 0.0)
            for row, tf in self.postings.get(term, []):
                if mask[row]:
                    scores[row] = scores.get(row, 0.0) + weight * idf * tf
        ranked = sorted(scores.items(), key=lambda item: -item[1])[:limit]
        return [self._scored(row, score) for row, score in ranked]

    def _scored(self, row: int, score: float) -> StoredChunk:
        chunk = self.chunks[row]
        return StoredChunk(**{**chunk.__dict__, "score": score})


def qdrant_rrf(legs: FusionInput, question: CachedQuestion, k: int = 2) -> list[StoredChunk]:
    """Qdrant's RRF: 1 / (k + rank) summed over the legs."""
    fused: dict[tuple[str, int], float] = {}
    chunks: dict[tuple[str, int], StoredChunk] = {}
    for leg in (legs.dense, legs.sparse):
        for rank, chunk in enumerate(leg):
            key = (chunk.doc_id, chunk.chunk_index)
            fused[key] = fused.get(key, 0.0) + 1 / (k + rank + 1)
            chunks[key] = chunk
    ranked = sorted(fused, key=lambda key: -fused[key])[: legs.limit]
    return [chunks[key] for key in ranked]


def qdrant_dbsf(legs: FusionInput, question: CachedQuestion) -> list[StoredChunk]:
    """Qdrant's DBSF: the bot's fuse_legs without a coverage guard is the same formula."""
    return fuse_legs(legs)


class Coverage:
    """Per sparse hit, the share of the question's terms it contains (term sets from the cache)."""

    def __init__(self, replica: Replica, cache: dict[str, Any]) -> None:
        self.replica = replica
        self.terms = {
            (c["chunk"].doc_id, c["chunk"].chunk_index): set(c["sparse"][0]) for c in cache["chunks"]
        }

    def share(self, question: CachedQuestion, chunk: StoredChunk, idf_weighted: bool) -> float:
        indices = question.sparse[0]
        weights = [self.replica.idf.get(t, 0.0) for t in indices] if idf_weighted else question.sparse[1]
        query = SparseVector(indices=indices, values=weights)
        return term_coverage(query, self.terms[(chunk.doc_id, chunk.chunk_index)])

    def per_chunk(self, full: float, idf_weighted: bool = False) -> FusionFn:
        """The bot's dbsf-coverage with full weight from coverage `full` on."""

        def fuse(legs: FusionInput, question: CachedQuestion) -> list[StoredChunk]:
            # fuse_legs reaches full weight at FULL_COVERAGE: rescale the shares to move that point.
            shares = [self.share(question, c, idf_weighted) * FULL_COVERAGE / full for c in legs.sparse]
            return fuse_legs(dataclasses.replace(legs, sparse_coverage=shares))

        return fuse

    def legs(
        self, replica: Replica, question: CachedQuestion, mask: npt.NDArray[np.bool_], limit: int
    ) -> FusionInput:
        """Both legs of `question` with the bot's per-hit coverage (dbsf-coverage)."""
        sparse = replica.sparse_leg(question.sparse, mask, PREFETCH) if question.sparse[0] else []
        shares = [self.share(question, c, False) for c in sparse]
        return FusionInput(replica.dense_leg(question.dense, mask, PREFETCH), sparse, limit, shares)

    def leg_guard(self, full: float) -> FusionFn:
        """The whole sparse leg weighs min(1, IDF-weighted coverage of its best hit / `full`)."""

        def fuse(legs: FusionInput, question: CachedQuestion) -> list[StoredChunk]:
            top = self.share(question, legs.sparse[0], True) if legs.sparse else 0.0
            shares = [top * FULL_COVERAGE / full] * len(legs.sparse)
            return fuse_legs(dataclasses.replace(legs, sparse_coverage=shares))

        return fuse


def language_aware(legs: FusionInput, question: CachedQuestion) -> list[StoredChunk]:
    """Sparse hits in another language than the question's are left out (dense only for them)."""
    language = detect_language(question.question.text)
    same = [c for c in legs.sparse if detect_language(c.text) == language]
    return fuse_legs(dataclasses.replace(legs, sparse=same))


def variants(replica: Replica, cache: dict[str, Any]) -> dict[str, FusionFn | str]:
    coverage = Coverage(replica, cache)
    found: dict[str, FusionFn | str] = {
        "dense only": "dense",
        "sparse only": "sparse",
        "Qdrant RRF k=2": qdrant_rrf,
        "Qdrant DBSF (today)": qdrant_dbsf,
        "language: sparse hits of the other language dropped": language_aware,
    }
    for full in (0.3, 0.5):
        found[f"coverage guard on the whole sparse leg (IDF-weighted), full at {full}"] = coverage.leg_guard(
            full
        )
        found[f"coverage per sparse hit (IDF-weighted), full at {full}"] = coverage.per_chunk(full, True)
    for full in (0.2, 0.3, 0.5):
        found[f"coverage per sparse hit (dbsf-coverage), full at {full}"] = coverage.per_chunk(full)
    found["centered: dense only"] = "dense"
    found["centered: DBSF"] = qdrant_dbsf
    return found


RANKS: dict[str, dict[str, list[int | None]]] = {}


def evaluate(
    replica: Replica,
    cache: dict[str, Any],
    fusion: FusionFn | str,
    centroids: dict[str, Vector] | None = None,
    name_for_ranks: str = "",
    extra_terms: dict[str, tuple[list[int], list[float]]] | None = None,
    extra_weight: float = 1.0,
    oracle: Coverage | None = None,
) -> dict[str, dict[str, float]]:
    """Recall@1/3/6 and MRR per direction; `fusion` is a fusion function or "dense" / "sparse".

    `centroids`: per question language, a mean vector subtracted from the question's e5 vector.
    `oracle`: query translation as the bot does it (dbsf-coverage over the legs of the question and
    of its translation; only where the scope is all in the other language, as the bot's rule
    decides for these scopes), the translation being XQuAD's parallel question: the upper bound.
    """
    parallel = {lang: {c.question.qid: c for c in qs} for lang, qs in cache["questions"].items()}
    budget = ContextBudget()
    limit = budget.max_documents * CANDIDATES_PER_DOCUMENT
    russian_chat = chat_scope(-1)
    results: dict[str, dict[str, float]] = {}
    for name, (q_lang, p_lang) in DIRECTIONS.items():
        asked: list[CachedQuestion] = cache["questions"][q_lang]
        expected = expected_paragraphs(
            [c.question for c in asked], [c.question for c in cache["questions"][p_lang]]
        )
        scopes = [GLOBAL_SCOPE, russian_chat] if q_lang == p_lang else [paragraph_scope(p_lang)]
        mask = replica.mask(scopes)
        ranks: list[int | None] = []
        for cached, paragraph_file in zip(asked, expected, strict=True):
            if extra_terms is not None:
                weights = dict(zip(*cached.sparse, strict=True))
                for term in extra_terms[cached.question.text][0]:
                    weights.setdefault(term, extra_weight)
                cached = dataclasses.replace(cached, sparse=(list(weights), list(weights.values())))
            query: Sequence[float] = cached.dense
            if centroids is not None:
                query = list(np.asarray(cached.dense, dtype=np.float32) - centroids[q_lang])
            if oracle is not None and q_lang != p_lang:
                translated = parallel[p_lang][cached.question.qid]
                candidates = fuse_queries(
                    [oracle.legs(replica, asked_query, mask, limit) for asked_query in (cached, translated)]
                )
            elif fusion == "dense":
                candidates = replica.dense_leg(query, mask, limit)
            elif fusion == "sparse":
                candidates = replica.sparse_leg(cached.sparse, mask, limit)
            else:
                assert callable(fusion)
                legs = FusionInput(
                    dense=replica.dense_leg(query, mask, PREFETCH),
                    sparse=replica.sparse_leg(cached.sparse, mask, PREFETCH) if cached.sparse[0] else [],
                    limit=limit,
                )
                candidates = fusion(legs, cached)
            files = [c.file_name for c in assemble_context(candidates, budget)]
            ranks.append(files.index(paragraph_file) + 1 if paragraph_file in files else None)
        RANKS.setdefault(name_for_ranks, {})[name] = ranks
        n = len(ranks)
        results[name] = {
            "r@1": sum(r == 1 for r in ranks) / n,
            "r@3": sum(1 for r in ranks if r and r <= 3) / n,
            "r@6": sum(1 for r in ranks if r and r <= 6) / n,
            "mrr": sum(1 / r for r in ranks if r) / n,
        }
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fusion_replica", description=__doc__)
    parser.add_argument("--build", action="store_true", help="(re)build the vector cache first")
    parser.add_argument("--xquad", type=Path, default=DEFAULT_XQUAD)
    parser.add_argument(
        "--model-path", type=Path, default=DEFAULT_MODEL_PATH if DEFAULT_MODEL_PATH.is_dir() else None
    )
    parser.add_argument("--only", nargs="*", help="variant names to run (default: all)")
    args = parser.parse_args(argv)
    if args.build or not CACHE.exists():
        cache = asyncio.run(build_cache(args.xquad, args.model_path))
        CACHE.parent.mkdir(parents=True, exist_ok=True)
        CACHE.write_bytes(pickle.dumps(cache))
    cache = pickle.loads(CACHE.read_bytes())  # our own file, written just above or earlier
    replica = Replica(cache)
    print("| variant | " + " | ".join(f"{d} r@1 | {d} r@6 | {d} MRR" for d in DIRECTIONS) + " |")
    print("|---|" + "---:|" * 3 * len(DIRECTIONS))
    # The mean e5 vector of each language's questions: removing it takes out the "language"
    # direction that makes an English question prefer English text.
    centroids = {
        lang: np.mean([q.dense for q in questions], axis=0).astype(np.float32)
        for lang, questions in cache["questions"].items()
    }
    found = variants(replica, cache)
    translit_file = CACHE.parent / "translit.pkl"
    translit = pickle.loads(translit_file.read_bytes()) if translit_file.exists() else None
    coverage = Coverage(replica, cache)
    if translit is not None:
        for w in (1.0, 0.5):
            found[f"translit names w={w}: DBSF"] = qdrant_dbsf
            found[f"translit names w={w}: dbsf-coverage 0.3"] = coverage.per_chunk(0.3)
    # Issue 11: query translation, XQuAD's human translation standing in for the model's (upper bound).
    found["oracle translation: dbsf-coverage over the question's and its translation's legs"] = (
        coverage.per_chunk(FULL_COVERAGE)
    )
    for name, fusion in found.items():
        if args.only and not any(part in name for part in args.only):
            continue
        extra = translit if name.startswith("translit") else None
        weight = float(name.split("w=")[1].split(":")[0]) if extra else 1.0
        centered = centroids if name.startswith("centered") else None
        oracle = coverage if name.startswith("oracle translation") else None
        r = evaluate(replica, cache, fusion, centered, name, extra, weight, oracle)
        cells = " | ".join(f"{r[d]['r@1']:.3f} | {r[d]['r@6']:.3f} | {r[d]['mrr']:.3f}" for d in DIRECTIONS)
        print(f"| {name} | {cells} |", flush=True)
    RANKS_FILE.write_text(json.dumps(RANKS), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
