"""Retrieval quality on XQuAD: dense-only vs sparse-only vs hybrid, side by side in one run.

Every XQuAD paragraph (Russian and English, 480 in all) is ingested as its own document through the
bot's IngestionService (real parsing, chunking, e5 and BM25 vectors, embedded Qdrant), then every
question is asked through the bot's Retriever in each mode, in four directions:

- ru, en: a question against all 480 paragraphs; its own paragraph is the one expected;
- en→ru, ru→en: the same question (XQuAD's questions are parallel, one id in both languages)
  against the other language's 240 paragraphs only; the expected one is the translation of its own.

Russian paragraphs are stored in one chat's scope and English ones in the global base, so the
bot's own scope filter picks the paragraphs each direction searches. A question counts as found at
k when its paragraph is among the first k documents the model would be shown (after neighbouring
chunks are merged). The data is read from ../shared/eval and never copied.

    python -m bot bench retrieval --xquad ../shared/eval/xquad [--fusion NAME] [--questions N]
        [--directions ru en en→ru ru→en] [--modes dense sparse hybrid]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from qdrant_client import AsyncQdrantClient

from bot.domain import GLOBAL_SCOPE, chat_scope
from bot.embed.embedder import Embedder
from bot.embed.sparse import SparseEmbedder
from bot.ingest.chunking import DEFAULT_CHUNK_TOKENS
from bot.ingest.pipeline import IngestionService
from bot.rag.language import Language
from bot.rag.retrieval import RetrievalConfig, RetrievalFusion, RetrievalMode, Retriever, Translate
from bot.storage.chunks.edge import EdgeCollection
from bot.storage.chunks.interface import CollectionBackend
from bot.storage.chunks.server import ServerCollection
from bot.storage.chunks.store import QdrantChunkStore
from bot.storage.migrator import MigrationContext, migrate

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_XQUAD = REPO_ROOT.parent / "shared" / "eval" / "xquad"
DEFAULT_MODEL_PATH = REPO_ROOT.parent / "shared" / "models" / "multilingual-e5-small-int8"
MODEL = "intfloat/multilingual-e5-small"
LANGUAGES = ("ru", "en")
MODES: tuple[RetrievalMode, ...] = ("dense", "sparse", "hybrid")
Engine = Literal["edge", "local"]
ENGINES: tuple[Engine, ...] = ("edge", "local")
# (question language, paragraph language); a same-language direction searches both languages.
DIRECTIONS: dict[str, tuple[str, str]] = {
    "ru": ("ru", "ru"),
    "en": ("en", "en"),
    "en→ru": ("en", "ru"),
    "ru→en": ("ru", "en"),
}
# The chat whose scope holds the Russian paragraphs; the English ones are global.
RUSSIAN_CHAT = -1


@dataclass(frozen=True)
class Question:
    text: str
    qid: str  # the same in every language
    paragraph_file: str


@dataclass(frozen=True)
class Direction:
    """Where a direction's questions search: (chat_id, include_global) for Retriever.retrieve."""

    chat_id: int | None
    include_global: bool

    @staticmethod
    def of(question_language: str, paragraph_language: str) -> Direction:
        if question_language == paragraph_language:
            return Direction(RUSSIAN_CHAT, True)  # both languages
        if paragraph_language == "ru":
            return Direction(RUSSIAN_CHAT, False)  # the chat's own scope only
        return Direction(None, True)  # the global base only


def paragraph_scope(language: str) -> str:
    return chat_scope(RUSSIAN_CHAT) if language == "ru" else GLOBAL_SCOPE


@dataclass
class Corpus:
    backend: CollectionBackend
    embedder: Embedder
    sparse: SparseEmbedder
    store: QdrantChunkStore
    ingestion: IngestionService
    folder: Path | None = None  # Edge's files, removed on close

    async def close(self) -> None:
        await self.backend.close()
        self.embedder.close()
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)


def load_xquad(path: Path, language: str) -> tuple[dict[str, str], list[Question]]:
    data = json.loads((path / f"xquad.{language}.json").read_text(encoding="utf-8"))
    paragraphs: dict[str, str] = {}
    questions: list[Question] = []
    for article in data["data"]:
        for paragraph in article["paragraphs"]:
            name = f"{language}-{len(paragraphs):03d}.txt"
            paragraphs[name] = paragraph["context"].lstrip("\ufeff")
            questions += [Question(qa["question"], qa["id"], name) for qa in paragraph["qas"]]
    return paragraphs, questions


async def open_corpus(model_path: Path | None, engine: Engine = "edge") -> Corpus:
    """The bot's own ingestion on Qdrant Edge in `folder` (the bot's default) or on qdrant-client's
    in-memory local mode (the bot's embedded store before Edge), schema made by the real migrations."""
    embedder = Embedder(MODEL, model_path)
    sparse = SparseEmbedder()
    backend: CollectionBackend
    folder: Path | None = None
    if engine == "edge":
        folder = Path(tempfile.mkdtemp(prefix="bench-edge-"))
        backend = await EdgeCollection.open(folder, "bench", embedder.vector_name)
    else:
        backend = ServerCollection(AsyncQdrantClient(location=":memory:"), "bench", embedder.vector_name)
    await migrate(MigrationContext(backend, embedder.dim, embedder.model_name, sparse))
    store = QdrantChunkStore(backend)
    ingestion = IngestionService(
        embedder, sparse, store, chunk_tokens=DEFAULT_CHUNK_TOKENS, max_bytes=50 * 1024 * 1024
    )
    return Corpus(backend, embedder, sparse, store, ingestion, folder)


async def ingest_paragraphs(corpus: Corpus, paragraphs: dict[str, str], scope: str = GLOBAL_SCOPE) -> int:
    """Returns the number of chunks made."""
    chunks = 0
    for name, text in paragraphs.items():
        result = await corpus.ingestion.ingest(text.encode(), name, scope=scope, uploaded_by=None)
        chunks += result.document.chunks
    return chunks


def summarize(ranks: Sequence[int | None], latencies_ms: Sequence[float]) -> dict[str, Any]:
    """Recall@k and MRR over the ranks (None: not among the documents shown), latency percentiles."""
    n = len(ranks)
    return {
        "questions": n,
        "recall@1": round(sum(1 for r in ranks if r == 1) / n, 3),
        "recall@3": round(sum(1 for r in ranks if r and r <= 3) / n, 3),
        "recall@6": round(sum(1 for r in ranks if r and r <= 6) / n, 3),
        "mrr": round(sum(1 / r for r in ranks if r) / n, 3),
        "p50_ms": round(statistics.median(latencies_ms), 1),
        "p95_ms": round(statistics.quantiles(latencies_ms, n=20)[18], 1),
    }


class SharedQueryEmbeddings:
    """e5 embeds each question once for all modes; every mode that uses it is charged its time."""

    def __init__(self, embedder: Embedder) -> None:
        self._embedder = embedder
        self._text = ""
        self._vector: list[float] = []
        self.seconds = 0.0

    def has(self, text: str) -> bool:
        return bool(self._vector) and text == self._text

    async def embed_query(self, text: str) -> list[float]:
        if not self.has(text):
            started = time.perf_counter()
            self._vector = await self._embedder.embed_query(text)
            self._text, self.seconds = text, time.perf_counter() - started
        return self._vector


def expected_paragraphs(questions: Sequence[Question], paragraphs_of: Sequence[Question]) -> list[str]:
    """Each question's expected paragraph file: the one `paragraphs_of` holds its id under."""
    by_id = {q.qid: q.paragraph_file for q in paragraphs_of}
    return [by_id[q.qid] for q in questions]


def oracle_translations(questions: Sequence[Question], parallel: Sequence[Question]) -> Translate:
    """A "translator" that answers with XQuAD's own parallel question (a human translation of the same
    question, matched by id): the upper bound of query translation with a perfect translation, not
    what the model would produce."""
    by_id = {q.qid: q.text for q in parallel}
    known = {q.text: by_id[q.qid] for q in questions}

    async def translate(text: str, target: Language) -> str | None:
        return known.get(text)

    return translate


async def ask_all(
    retrievers: dict[RetrievalMode, Retriever],
    questions: Sequence[Question],
    expected: Sequence[str] | None = None,
    direction: Direction = Direction(None, True),
    shared: SharedQueryEmbeddings | None = None,
    translate: Translate | None = None,
) -> dict[RetrievalMode, dict[str, Any]]:
    """Every question through every retriever; latency is the whole retrieve call (embedding included).

    `expected`: each question's paragraph file (default: its own); `direction`: where it searches;
    `translate`: handed to the retriever (the bot's rule decides when it is asked).
    """
    if expected is None:
        expected = [q.paragraph_file for q in questions]
    ranks: dict[RetrievalMode, list[int | None]] = {mode: [] for mode in retrievers}
    latencies: dict[RetrievalMode, list[float]] = {mode: [] for mode in retrievers}
    for question, paragraph_file in zip(questions, expected, strict=True):
        for mode, retriever in retrievers.items():
            reused = shared is not None and mode != "sparse" and shared.has(question.text)
            started = time.perf_counter()
            retrieval = await retriever.search(
                question.text, direction.chat_id, include_global=direction.include_global, translate=translate
            )
            found = retrieval.chunks
            elapsed = time.perf_counter() - started + (shared.seconds if shared and reused else 0.0)
            latencies[mode].append(elapsed * 1000)
            files = [c.file_name for c in found]
            rank = files.index(paragraph_file) + 1 if paragraph_file in files else None
            ranks[mode].append(rank)
    return {mode: summarize(ranks[mode], latencies[mode]) for mode in retrievers}


async def run(
    xquad: Path,
    model_path: Path | None,
    fusion: RetrievalFusion,
    max_questions: int | None,
    directions: Sequence[str] = tuple(DIRECTIONS),
    modes: Sequence[RetrievalMode] = MODES,
    engine: Engine = "edge",
    translation: str = "none",
) -> dict[str, Any]:
    corpus = await open_corpus(model_path, engine)
    try:
        data = {lang: load_xquad(xquad, lang) for lang in LANGUAGES}
        started = time.perf_counter()
        chunks = 0
        for lang, (paragraphs, _) in data.items():
            chunks += await ingest_paragraphs(corpus, paragraphs, paragraph_scope(lang))
        report: dict[str, Any] = {
            "fusion": fusion,
            "translation": translation,
            "engine": engine,
            "cpus": os.cpu_count(),
            "ingestion": {
                "documents": sum(len(p) for p, _ in data.values()),
                "chunks": chunks,
                "seconds": round(time.perf_counter() - started, 1),
            },
            "retrieval": {},
        }
        shared = SharedQueryEmbeddings(corpus.embedder)
        retrievers = {
            mode: Retriever(shared, corpus.sparse, corpus.store, RetrievalConfig(mode=mode, fusion=fusion))
            for mode in modes
        }
        for name in directions:
            question_language, paragraph_language = DIRECTIONS[name]
            questions = data[question_language][1]
            asked = questions[:max_questions] if max_questions else questions
            expected = expected_paragraphs(asked, data[paragraph_language][1])
            direction = Direction.of(question_language, paragraph_language)
            translate = None
            if translation == "oracle":
                other = data["en" if question_language == "ru" else "ru"][1]
                translate = oracle_translations(asked, other)
                name = f"{name}, oracle translation"
            report["retrieval"][name] = await ask_all(
                retrievers, asked, expected, direction, shared, translate
            )
        return report
    finally:
        await corpus.close()


def format_table(report: dict[str, Any]) -> str:
    lines = [
        "| direction | mode | questions | recall@1 | recall@3 | recall@6 | MRR | p50 ms | p95 ms |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for lang, modes in report["retrieval"].items():
        for mode, r in modes.items():
            lines.append(
                f"| {lang} | {mode} | {r['questions']} | {r['recall@1']:.3f} | {r['recall@3']:.3f} "
                f"| {r['recall@6']:.3f} | {r['mrr']:.3f} | {r['p50_ms']} | {r['p95_ms']} |"
            )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="kb-bot bench retrieval",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--xquad", type=Path, default=DEFAULT_XQUAD, help="folder with xquad.{ru,en}.json")
    parser.add_argument(
        "--model-path", type=Path, default=DEFAULT_MODEL_PATH if DEFAULT_MODEL_PATH.is_dir() else None
    )
    parser.add_argument("--fusion", choices=get_args(RetrievalFusion), default=RetrievalConfig().fusion)
    parser.add_argument("--questions", type=int, default=None, help="ask only the first N per direction")
    parser.add_argument(
        "--directions",
        nargs="+",
        type=lambda name: name.replace("->", "→"),  # the arrow is hard to type
        choices=list(DIRECTIONS),
        default=list(DIRECTIONS),
        help="ru and en search both languages; en→ru and ru→en only the other one",
    )
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument(
        "--engine", choices=ENGINES, default="edge", help="Qdrant Edge (default) or qdrant-client local mode"
    )
    parser.add_argument(
        "--translation",
        choices=("none", "oracle"),
        default="none",
        help="oracle: query translation (QUERY_TRANSLATION=auto) with XQuAD's parallel question as the "
        "model's translation, the upper bound with a perfect translation",
    )
    parser.add_argument("--json", type=Path, default=REPO_ROOT / "bench" / "results" / "retrieval.json")
    args = parser.parse_args(argv)
    if not (args.xquad / "xquad.ru.json").is_file():
        print(f"No XQuAD data in {args.xquad} (expected xquad.ru.json and xquad.en.json).")
        return 2
    report = asyncio.run(
        run(
            args.xquad,
            args.model_path,
            args.fusion,
            args.questions,
            args.directions,
            args.modes,
            args.engine,
            args.translation,
        )
    )
    ing = report["ingestion"]
    print(f"Indexed {ing['documents']} paragraphs as {ing['chunks']} chunks in {ing['seconds']} s.")
    print(f"Fusion: {report['fusion']}, engine: {report['engine']}, translation: {report['translation']}\n")
    print(format_table(report))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2), encoding="utf-8")
    print(f"\nWrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
