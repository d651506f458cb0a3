"""Ingestion throughput and retrieval quality/latency of the bot's real pipeline on XQuAD.

Every XQuAD paragraph (Russian and English) is ingested as its own document through the bot's
IngestionService (parsing, chunking, e5 embeddings, embedded Qdrant); then every question is asked
through the bot's Retriever, and we check whether its paragraph is among the chunks the model
would see. The data is read from ../shared/eval and never copied.

    HF_HUB_OFFLINE=1 .venv/bin/python -m bench.pipeline [--xquad ../shared/eval/xquad] [--questions N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qdrant_client import AsyncQdrantClient

from bot.domain import GLOBAL_SCOPE
from bot.embed.embedder import Embedder
from bot.ingest.chunking import DEFAULT_CHUNK_TOKENS
from bot.ingest.pipeline import IngestionService
from bot.rag.retrieval import Retriever
from bot.storage.chunk_store import ChunkStore
from bot.storage.migrator import MigrationContext, migrate

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_XQUAD = REPO_ROOT.parent / "shared" / "eval" / "xquad"
DEFAULT_MODEL_PATH = REPO_ROOT.parent / "shared" / "models" / "multilingual-e5-small-int8"
MODEL = "intfloat/multilingual-e5-small"
TOP_K = 6


@dataclass(frozen=True)
class Question:
    text: str
    paragraph_file: str


def load_xquad(path: Path, language: str) -> tuple[dict[str, str], list[Question]]:
    data = json.loads((path / f"xquad.{language}.json").read_text(encoding="utf-8"))
    paragraphs: dict[str, str] = {}
    questions: list[Question] = []
    for article in data["data"]:
        for paragraph in article["paragraphs"]:
            name = f"{language}-{len(paragraphs):03d}.txt"
            paragraphs[name] = paragraph["context"].lstrip("\ufeff")
            questions += [Question(qa["question"], name) for qa in paragraph["qas"]]
    return paragraphs, questions


async def run(xquad: Path, model_path: Path | None, max_questions: int | None) -> dict[str, Any]:
    embedder = Embedder(MODEL, model_path)
    client = AsyncQdrantClient(location=":memory:")
    ctx = MigrationContext(client, "bench", embedder.vector_name, embedder.dim, embedder.model_name)
    await migrate(ctx)
    store = ChunkStore(client, "bench", embedder.vector_name)
    ingestion = IngestionService(
        embedder, store, chunk_tokens=DEFAULT_CHUNK_TOKENS, max_bytes=50 * 1024 * 1024
    )
    retriever = Retriever(embedder, store, TOP_K)
    report: dict[str, Any] = {"ingestion": {}, "retrieval": {}}

    corpora = {lang: load_xquad(xquad, lang) for lang in ("ru", "en")}
    started = time.perf_counter()
    doc_files: dict[str, str] = {}
    chunks = 0
    for paragraphs, _ in corpora.values():
        for name, text in paragraphs.items():
            result = await ingestion.ingest(text.encode(), name, scope=GLOBAL_SCOPE, uploaded_by=None)
            doc_files[result.document.doc_id] = name
            chunks += result.document.chunks
    ingest_s = time.perf_counter() - started
    # The paragraphs embedded alone, one call per document as ingestion makes them: the rest of the
    # ingestion time is parsing, chunking, the chunk titles' few extra tokens and Qdrant.
    started = time.perf_counter()
    for paragraphs, _ in corpora.values():
        for text in paragraphs.values():
            await embedder.embed_passages([text])
    embed_s = time.perf_counter() - started
    report["ingestion"] = {
        "documents": len(doc_files),
        "chunks": chunks,
        "seconds": round(ingest_s, 1),
        "chunks_per_s": round(chunks / ingest_s, 1),
        "embedding_only_seconds": round(embed_s, 1),
        "overhead_ratio": round(ingest_s / embed_s, 2),
    }

    for lang, (_, questions) in corpora.items():
        asked = questions[:max_questions] if max_questions else questions
        ranks: list[int | None] = []
        latencies: list[float] = []
        for question in asked:
            t0 = time.perf_counter()
            found = await retriever.retrieve(question.text, None)
            latencies.append((time.perf_counter() - t0) * 1000)
            files = [c.file_name for c in found]
            ranks.append(
                files.index(question.paragraph_file) + 1 if question.paragraph_file in files else None
            )
        n = len(ranks)
        report["retrieval"][lang] = {
            "questions": n,
            "recall@1": round(sum(1 for r in ranks if r == 1) / n, 3),
            "recall@3": round(sum(1 for r in ranks if r and r <= 3) / n, 3),
            "recall@6": round(sum(1 for r in ranks if r and r <= 6) / n, 3),
            "mrr": round(sum(1 / r for r in ranks if r) / n, 3),
            "p50_ms": round(statistics.median(latencies), 1),
            "p95_ms": round(statistics.quantiles(latencies, n=20)[18], 1),
        }
    await client.close()
    embedder.close()
    return report


def print_tables(report: dict[str, Any]) -> None:
    ing = report["ingestion"]
    print("| documents | chunks | seconds | chunks/s | embedding only, s | whole / embedding |")
    print("|---:|---:|---:|---:|---:|---:|")
    print(
        f"| {ing['documents']} | {ing['chunks']} | {ing['seconds']} | {ing['chunks_per_s']} "
        f"| {ing['embedding_only_seconds']} | {ing['overhead_ratio']} |"
    )
    print()
    print("| language | questions | recall@1 | recall@3 | recall@6 | MRR | p50 ms | p95 ms |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for lang, r in report["retrieval"].items():
        print(
            f"| {lang} | {r['questions']} | {r['recall@1']} | {r['recall@3']} | {r['recall@6']} | {r['mrr']} "
            f"| {r['p50_ms']} | {r['p95_ms']} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--xquad", type=Path, default=DEFAULT_XQUAD)
    parser.add_argument(
        "--model-path", type=Path, default=DEFAULT_MODEL_PATH if DEFAULT_MODEL_PATH.is_dir() else None
    )
    parser.add_argument("--questions", type=int, default=None, help="ask only the first N per language")
    parser.add_argument("--json", type=Path, default=REPO_ROOT / "bench" / "results" / "pipeline.json")
    args = parser.parse_args()
    report = asyncio.run(run(args.xquad, args.model_path, args.questions))
    print_tables(report)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
