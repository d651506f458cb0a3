"""Ingestion throughput and retrieval quality/latency of the bot's real pipeline on XQuAD.

Every XQuAD paragraph (Russian and English) is ingested as its own document through the bot's
IngestionService (parsing, chunking, e5 and BM25 vectors, embedded Qdrant); then every question is asked
through the bot's Retriever, and we check whether its paragraph is among the chunks the model
would see. The data is read from ../shared/eval and never copied.

    HF_HUB_OFFLINE=1 .venv/bin/python -m bench.pipeline [--xquad ../shared/eval/xquad] [--questions N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path
from typing import Any

from bench.retrieval import (
    DEFAULT_MODEL_PATH,
    DEFAULT_XQUAD,
    LANGUAGES,
    REPO_ROOT,
    ask_all,
    ingest_paragraphs,
    load_xquad,
    open_corpus,
)
from bot.rag.retrieval import RetrievalConfig, Retriever


async def run(xquad: Path, model_path: Path | None, max_questions: int | None) -> dict[str, Any]:
    corpus = await open_corpus(model_path)
    report: dict[str, Any] = {"ingestion": {}, "retrieval": {}}
    corpora = {lang: load_xquad(xquad, lang) for lang in LANGUAGES}
    started = time.perf_counter()
    chunks = 0
    for paragraphs, _ in corpora.values():
        chunks += await ingest_paragraphs(corpus, paragraphs)
    ingest_s = time.perf_counter() - started
    # The paragraphs embedded alone, one call per document as ingestion makes them: the rest of the
    # ingestion time is parsing, chunking, BM25, the chunk titles' few extra tokens and Qdrant.
    started = time.perf_counter()
    for paragraphs, _ in corpora.values():
        for text in paragraphs.values():
            await corpus.embedder.embed_passages([text])
    embed_s = time.perf_counter() - started
    report["ingestion"] = {
        "documents": sum(len(p) for p, _ in corpora.values()),
        "chunks": chunks,
        "seconds": round(ingest_s, 1),
        "chunks_per_s": round(chunks / ingest_s, 1),
        "embedding_only_seconds": round(embed_s, 1),
        "overhead_ratio": round(ingest_s / embed_s, 2),
    }
    retriever = Retriever(corpus.embedder, corpus.sparse, corpus.store, RetrievalConfig())
    for lang, (_, questions) in corpora.items():
        asked = questions[:max_questions] if max_questions else questions
        report["retrieval"][lang] = (await ask_all({"hybrid": retriever}, asked))["hybrid"]
    await corpus.close()
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
