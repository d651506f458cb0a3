"""OCR quality and speed on scans of XQuAD's Russian paragraphs (issue 11).

Each paragraph is drawn as pixels on an A4 page (DejaVu Sans 12 pt) at each resolution and put in
an image-only PDF; the bot's own parse_document reads it with Tesseract. Printed per resolution:
the character error rate against the paragraph (whitespace runs count as one space), and pages per
minute on this machine. Then retrieval: the same paragraphs as text PDFs and as scans (at
``--retrieval-dpi``) go through the real IngestionService into two knowledge bases, each with the
same other paragraphs as distractors, and every question of those paragraphs is asked (hybrid
retrieval): recall@k of its own paragraph from the scan against from the text PDF.

The data is read from ../shared/eval and never copied.

    HF_HUB_OFFLINE=1 .venv/bin/python -m bench.ocr [--paragraphs 24] [--dpi 150,200,300]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fontTools.ttLib import TTFont

from bench.retrieval import (
    DEFAULT_MODEL_PATH,
    DEFAULT_XQUAD,
    REPO_ROOT,
    Corpus,
    Question,
    load_xquad,
    open_corpus,
    summarize,
)
from bot.domain import GLOBAL_SCOPE
from bot.ingest.parsing import parse_document
from bot.rag.retrieval import RetrievalConfig, Retriever
from tests.support.documents import find_cyrillic_font, make_pdf
from tests.support.scans import character_error_rate, image_pdf, render_pages

RESULTS = REPO_ROOT / "bench" / "results" / "ocr.json"


def ocr_quality(paragraphs: dict[str, str], dpis: Sequence[int], font: Path) -> list[dict[str, Any]]:
    rows = []
    for dpi in dpis:
        rates: list[float] = []
        seconds = 0.0
        pages = 0
        for name, text in paragraphs.items():
            pdf = image_pdf([*render_pages(text, font, dpi)], font, dpi)  # a long paragraph takes two pages
            started = time.perf_counter()
            doc = parse_document(pdf, f"{name}.pdf")
            pages += doc.pages or 0
            seconds += time.perf_counter() - started
            rates.append(character_error_rate(doc.text, text))
        rows.append(
            {
                "dpi": dpi,
                "paragraphs": len(rates),
                "pages": pages,
                "cer_mean": round(statistics.mean(rates), 4),
                "cer_max": round(max(rates), 4),
                "pages_per_minute": round(60 * pages / seconds, 1),
            }
        )
        print(f"  {dpi} dpi: done ({seconds:.0f} s)", flush=True)
    return rows


async def _knowledge_base(
    model_path: Path | None, documents: dict[str, bytes], distractors: dict[str, str]
) -> Corpus:
    corpus = await open_corpus(model_path)
    for name, data in documents.items():
        await corpus.ingestion.ingest(data, name, scope=GLOBAL_SCOPE, uploaded_by=None)
    for name, text in distractors.items():
        await corpus.ingestion.ingest(text.encode(), name, scope=GLOBAL_SCOPE, uploaded_by=None)
    return corpus


async def recall(corpus: Corpus, questions: list[Question]) -> dict[str, Any]:
    retriever = Retriever(corpus.embedder, corpus.sparse, corpus.store, RetrievalConfig())
    ranks: list[int | None] = []
    latencies: list[float] = []
    for question in questions:
        started = time.perf_counter()
        files = [chunk.file_name for chunk in await retriever.retrieve(question.text, None)]
        latencies.append((time.perf_counter() - started) * 1000)
        ranks.append(files.index(question.paragraph_file) + 1 if question.paragraph_file in files else None)
    return summarize(ranks, latencies)


async def run(
    xquad: Path,
    model_path: Path | None,
    count: int,
    dpis: Sequence[int],
    retrieval_dpi: int,
    distractors: int,
) -> dict[str, Any]:
    all_paragraphs, all_questions = load_xquad(xquad, "ru")
    font = find_cyrillic_font()
    # A character the font cannot draw (a few paragraphs quote Chinese names) is a blank box in the
    # scan: no OCR could read it, so such paragraphs would measure the font, not the OCR.
    drawable = set(TTFont(str(font)).getBestCmap())
    names = [
        n for n, text in all_paragraphs.items() if all(ord(ch) in drawable or ch.isspace() for ch in text)
    ]
    step = max(1, len(names) // count)
    chosen = {name: all_paragraphs[name] for name in names[::step][:count]}  # spread over the articles
    others = {name: all_paragraphs[name] for name in all_paragraphs if name not in chosen}
    others = dict(list(others.items())[:distractors])
    print(f"OCR of {len(chosen)} paragraphs at {', '.join(map(str, dpis))} dpi…", flush=True)
    quality = ocr_quality(chosen, dpis, font)
    questions = [
        Question(q.text, q.qid, q.paragraph_file.replace(".txt", ".pdf"))
        for q in all_questions
        if q.paragraph_file in chosen
    ]
    text_pdfs = {f"{name[:-4]}.pdf": make_pdf(font, [text]) for name, text in chosen.items()}
    scans = {
        f"{name[:-4]}.pdf": image_pdf([*render_pages(text, font, retrieval_dpi)], font, retrieval_dpi)
        for name, text in chosen.items()
    }
    report: dict[str, Any] = {"ocr": quality, "retrieval_dpi": retrieval_dpi, "distractors": len(others)}
    for label, documents in (("text PDF", text_pdfs), (f"scan, {retrieval_dpi} dpi", scans)):
        print(f"Indexing and asking: {label}…", flush=True)
        corpus = await _knowledge_base(model_path, documents, others)
        try:
            report[label] = await recall(corpus, questions)
        finally:
            await corpus.close()
    report["load_average"] = [round(x, 2) for x in os.getloadavg()]
    return report


def format_table(report: dict[str, Any]) -> str:
    lines = [
        "| dpi | paragraphs | pages | CER mean | CER max | pages/min |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for row in report["ocr"]:
        rates = f"{row['cer_mean']:.2%} | {row['cer_max']:.2%}"
        lines.append(
            f"| {row['dpi']} | {row['paragraphs']} | {row['pages']} | {rates} | {row['pages_per_minute']} |"
        )
    lines += [
        "",
        "| source | questions | recall@1 | recall@3 | recall@6 | MRR |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for label in (key for key in report if key.startswith(("text", "scan"))):
        r = report[label]
        cells = [r["questions"], r["recall@1"], r["recall@3"], r["recall@6"], r["mrr"]]
        lines.append(f"| {label} | " + " | ".join(map(str, cells)) + " |")
    lines.append(f"\nload average: {report['load_average']}; distractors: {report['distractors']} paragraphs")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--xquad", type=Path, default=DEFAULT_XQUAD)
    parser.add_argument("--paragraphs", type=int, default=24)
    parser.add_argument("--dpi", default="150,200,300", help="comma-separated resolutions to measure")
    parser.add_argument("--retrieval-dpi", type=int, default=150, help="the scans' resolution in retrieval")
    parser.add_argument(
        "--distractors", type=int, default=100, help="other paragraphs in each knowledge base"
    )
    args = parser.parse_args(argv)
    model_path = DEFAULT_MODEL_PATH if DEFAULT_MODEL_PATH.is_dir() else None
    dpis = [int(value) for value in args.dpi.split(",")]
    report = asyncio.run(
        run(args.xquad, model_path, args.paragraphs, dpis, args.retrieval_dpi, args.distractors)
    )
    print(format_table(report))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
