"""Attribution against the hand-labelled set, and its cost: `python -m bench.attribution`.

Prints, for term overlap and for e5 similarity, how often each answer paragraph gets exactly the right
documents, pair precision and recall, and how often the source list is exactly right; then the time
for a 1,500-character answer against six documents.

    HF_HUB_OFFLINE=1 .venv/bin/python -m bench.attribution [--xquad ../shared/eval/xquad] [--show]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bench.attribution_set import LabelledAnswer, build_set
from bot.embed.embedder import Embedder
from bot.rag.attribution import Attribution, Attributor, SupportedUnit, answer_units, split_sentences

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("KB_SHARED_DIR") or REPO_ROOT.parent / "shared")
DEFAULT_XQUAD = SHARED / "eval" / "xquad"
DEFAULT_MODEL = SHARED / "models" / "multilingual-e5-small-int8"

Attribute = Callable[[str, dict[int, str]], Attribution]


def agreement(items: list[LabelledAnswer], attribute: Attribute) -> dict[str, float]:
    exact = units_total = tp = fp = fn = lists_right = 0
    for item in items:
        relevant = {d: item.documents[d] for d in item.relevant}
        result = attribute(item.text, relevant)
        spans = answer_units(item.text)
        found = {(u.start, u.end): set(u.doc_ids) for u in result.units}
        for span, labels in zip(spans, item.units, strict=True):
            got = found.get(span, set())
            exact += got == labels
            units_total += 1
            tp += len(got & labels)
            fp += len(got - labels)
            fn += len(labels - got)
        lists_right += set(result.used) == item.used
    return {
        "paragraphs exactly right": exact / units_total,
        "pair precision": tp / max(1, tp + fp),
        "pair recall": tp / max(1, tp + fn),
        "source lists exactly right": lists_right / len(items),
    }


class E5Attributor:
    """The alternative measured: each answer sentence against each document sentence by e5 cosine."""

    def __init__(self, embedder: Embedder, threshold: float = 0.86, relative: float = 0.98) -> None:
        self._embedder = embedder
        self._threshold = threshold
        self._relative = relative

    def _embed(self, texts: list[str]) -> np.ndarray:
        vectors = asyncio.run(self._embedder.embed_passages(texts, batch_size=32))
        return np.asarray(vectors, dtype=np.float32)

    def attribute(self, answer: str, documents: dict[int, str]) -> Attribution:
        doc_ids: list[int] = []
        doc_sentences: list[str] = []
        for doc_id, content in documents.items():
            for sentence in split_sentences(content):
                doc_ids.append(doc_id)
                doc_sentences.append(sentence)
        spans = answer_units(answer)
        unit_sentences = [(i, s) for i, (a, b) in enumerate(spans) for s in split_sentences(answer[a:b])]
        vectors = self._embed([s for _, s in unit_sentences] + doc_sentences)
        left, right = vectors[: len(unit_sentences)], vectors[len(unit_sentences) :]
        similarity = left @ right.T
        units: list[SupportedUnit] = []
        used: list[int] = []
        per_unit: dict[int, dict[int, float]] = {}
        for row, (unit, _) in enumerate(unit_sentences):
            best: dict[int, float] = {}
            for column, doc_id in enumerate(doc_ids):
                best[doc_id] = max(best.get(doc_id, -1.0), float(similarity[row, column]))
            top = max(best.values(), default=0.0)
            if top < self._threshold:
                continue
            for doc_id, score in best.items():
                if score >= self._relative * top and score >= self._threshold:
                    per_unit.setdefault(unit, {})[doc_id] = score
        for unit, scores in sorted(per_unit.items()):
            ranked = tuple(sorted(scores, key=lambda d: -scores[d]))
            units.append(SupportedUnit(spans[unit][0], spans[unit][1], ranked))
            used.extend(d for d in ranked if d not in used)
        return Attribution(units=units, used=used)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--xquad", type=Path, default=DEFAULT_XQUAD)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--show", action="store_true", help="print the items, to read them")
    args = parser.parse_args()
    items = build_set(args.xquad)
    if args.show:
        for number, item in enumerate(items, 1):
            print(
                f"--- {number} ({item.language}) relevant {item.relevant}, labels {item.units}\n{item.text}\n"
            )
    lexical = Attributor()
    rows = [("term overlap (chosen)", agreement(items, lexical.attribute))]
    e5 = E5Attributor(Embedder("intfloat/multilingual-e5-small", args.model))
    rows.append(("e5 sentence similarity", agreement(items, e5.attribute)))
    print(f"{len(items)} answers, {sum(len(i.units) for i in items)} paragraphs")
    print("| method | paragraphs exactly right | pair precision | pair recall | source lists exactly right |")
    print("|---|---:|---:|---:|---:|")
    for name, scores in rows:
        print(f"| {name} | " + " | ".join(f"{v:.3f}" for v in scores.values()) + " |")
    # Cost: a 1,500-character answer against six ~1,000-character documents.
    item = max(items, key=lambda i: len(i.text))
    answer = (item.text + "\n\n") * (1500 // max(1, len(item.text)) + 1)
    answer = answer[:1500]
    timings = {}
    for name, attribute in (
        ("term overlap (chosen)", lexical.attribute),
        ("e5 sentence similarity", e5.attribute),
    ):
        runs = []
        for _ in range(20 if "term" in name else 5):
            started = time.perf_counter()
            attribute(answer, item.documents)
            runs.append((time.perf_counter() - started) * 1000)
        timings[name] = runs
    print("\n| method | 1,500-char answer × 6 documents, p50 ms | max ms |")
    print("|---|---:|---:|")
    for name, runs in timings.items():
        print(f"| {name} | {statistics.median(runs):.1f} | {max(runs):.1f} |")
    print(f"(load average: {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
