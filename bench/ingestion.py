"""Ingestion throughput on a 100-page Russian PDF: how long until it is searchable, and how much of
that is anything but the embedding model.

The PDF is generated from XQuAD's Russian paragraphs (read from ../shared/eval, never copied) and
goes through the bot's own IngestionService: parsing (pypdfium2), token-sized chunking, embedding,
and the embedded Qdrant store. "Embedding only" embeds exactly the same chunk texts with the same
models and nothing else; the ratio of the two is what everything else costs. Each run then uploads
the same file again with one page edited: only that page's chunks are embedded, the rest reuse
their stored vectors (target: at most 10 % of the first upload's time).

    HF_HUB_OFFLINE=1 .venv/bin/python -m bench.ingestion [--pages 100] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.retrieval import DEFAULT_MODEL_PATH, DEFAULT_XQUAD, MODEL, REPO_ROOT, load_xquad
from bot.app import load_embedder, open_knowledge_base, run_migrations
from bot.config import load_settings
from bot.domain import search_text
from bot.embed.sparse import SparseEmbedder
from bot.ingest.chunking import split_into_chunks
from bot.ingest.parsing import parse_document
from tests.support.documents import find_cyrillic_font, make_pdf

RESULTS = REPO_ROOT / "bench" / "results" / "ingestion.json"


def build_pdf(xquad: Path, pages: int, edited_page: int | None = None) -> bytes:
    paragraphs = list(load_xquad(xquad, "ru")[0].values())
    # About 1,800 characters per page, like a dense manual page.
    texts = [
        " ".join(paragraphs[(2 * i) % len(paragraphs) : (2 * i) % len(paragraphs) + 2]) for i in range(pages)
    ]
    if edited_page is not None:  # a new version of the manual: one page's first sentence rewritten
        texts[edited_page] = "Эта страница исправлена в новой редакции руководства. " + texts[edited_page]
    return make_pdf(find_cyrillic_font(), texts, title="Руководство пользователя")


async def run(xquad: Path, model_path: Path | None, pages: int, runs: int) -> dict[str, Any]:
    pdf = build_pdf(xquad, pages)
    edited_pdf = build_pdf(xquad, pages, edited_page=pages // 2)
    with tempfile.TemporaryDirectory() as folder:
        settings = load_settings(
            qdrant_path=Path(folder) / "qdrant",
            embedding_model=MODEL,
            embedding_model_path=model_path,
            redis_url="redis://unused:6379/0",  # ingestion needs no Redis
        )
        embedder = load_embedder(settings)
        sparse = SparseEmbedder()
        await run_migrations(settings, embedder, sparse)
        parsed = parse_document(pdf, "manual.pdf")
        drafts = split_into_chunks(parsed, max_tokens=settings.chunk_tokens)  # also loads the tokenizer
        texts = [search_text(parsed.title, d.section, d.text) for d in drafts]
        await embedder.embed_passages(texts[:8])  # warm the ONNX sessions
        await sparse.embed_passages(texts[:8])
        totals: list[float] = []
        embeds: list[float] = []
        stages: list[dict[str, float]] = []
        reuploads: list[float] = []  # the same file again with one page edited (issue 11)
        async with open_knowledge_base(settings, embedder, sparse) as (_, _, ingestion):
            for run_index in range(runs):
                marks: dict[str, float] = {}

                async def progress(
                    stage: str, done: int, total: int, marks: dict[str, float] = marks
                ) -> None:
                    marks.setdefault(stage, time.perf_counter())

                started = time.perf_counter()
                result = await ingestion.ingest(
                    pdf,
                    f"manual-{run_index}.pdf",
                    scope=f"bench-{run_index}",
                    uploaded_by=None,
                    progress=progress,
                )
                finished = time.perf_counter()
                assert not result.already_indexed
                assert result.document.chunks == len(texts)
                totals.append(finished - started)
                stages.append(
                    {
                        "parse_and_chunk": marks["embedding"] - marks["parsing"],
                        "embed": marks["storing"] - marks["embedding"],
                        "store": finished - marks["storing"],
                    }
                )
                started = time.perf_counter()
                edited = await ingestion.ingest(
                    edited_pdf, f"manual-{run_index}.pdf", scope=f"bench-{run_index}", uploaded_by=None
                )
                reuploads.append(time.perf_counter() - started)
                assert [d.doc_id for d in edited.replaced] == [result.document.doc_id]
                result = edited
                started = time.perf_counter()
                # "Embedding" is both models: e5 (dense) and BM25 (sparse), the same texts, nothing else.
                await embedder.embed_passages(texts)
                await sparse.embed_passages(texts)
                embeds.append(time.perf_counter() - started)
                await ingestion.delete(result.document.doc_id, [f"bench-{run_index}"])
        embedder.close()
    total, embed = statistics.median(totals), statistics.median(embeds)
    return {
        "pages": pages,
        "characters": len(parsed.text),
        "chunks": len(texts),
        "runs": runs,
        "seconds_until_searchable": round(total, 2),
        "chunks_per_second": round(len(texts) / total, 1),
        "embedding_only_seconds": round(embed, 2),
        "whole_over_embedding": round(total / embed, 3),
        # The same ratio inside each run (its own embed stage): immune to the machine's drift between runs.
        "whole_over_embed_stage": round(
            statistics.median(t / s["embed"] for t, s in zip(totals, stages, strict=True)), 3
        ),
        "stages_median": {k: round(statistics.median(s[k] for s in stages), 2) for k in stages[0]},
        "reupload_one_page_edited_seconds": round(statistics.median(reuploads), 2),
        # Each run's re-upload against its own first upload (target ≤ 0.10).
        "reupload_over_first_upload": round(
            statistics.median(r / t for r, t in zip(reuploads, totals, strict=True)), 3
        ),
    }


def print_table(result: dict[str, Any]) -> None:
    print(
        "| pages | chunks | seconds until searchable | chunks/s | embedding only, s | whole / embedding "
        "| whole / its embed stage |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    print(
        f"| {result['pages']} | {result['chunks']} | {result['seconds_until_searchable']} | "
        f"{result['chunks_per_second']} | {result['embedding_only_seconds']} | "
        f"{result['whole_over_embedding']} | {result['whole_over_embed_stage']} |"
    )
    print("\n| pages | first upload, s | re-upload after a one-page edit, s | re-upload / first upload |")
    print("|---:|---:|---:|---:|")
    print(
        f"| {result['pages']} | {result['seconds_until_searchable']} | "
        f"{result['reupload_one_page_edited_seconds']} | {result['reupload_over_first_upload']} |"
    )
    stages = result["stages_median"]
    print(
        f"\nstages (median s): parse+chunk {stages['parse_and_chunk']}, "
        f"embed {stages['embed']}, store {stages['store']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--xquad", type=Path, default=DEFAULT_XQUAD)
    parser.add_argument(
        "--model-path", type=Path, default=DEFAULT_MODEL_PATH if DEFAULT_MODEL_PATH.is_dir() else None
    )
    parser.add_argument("--pages", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    result = asyncio.run(run(args.xquad, args.model_path, args.pages, args.runs))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8")
    print_table(result)


if __name__ == "__main__":
    main()
