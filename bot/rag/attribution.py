"""Which of the model's relevant documents support which paragraph of its answer.

After pass 2 the answer is cut into units (paragraphs, list items, lines of a quote; code and tables
are left alone) and each unit into sentences. A sentence is supported by a document when enough of
its content words (stemmed by their own script's Snowball stemmer, stopwords dropped) appear in one
sentence of that document. A unit cites every document that supports one of its sentences, best
first; a relevant document that supports nothing is not cited at all.

Term overlap was chosen over e5 similarity by measuring both on a hand-labelled set
(`bench/attribution.py`): see the README. It needs no model call, so it costs ~1 ms per answer.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from bot.embed.sparse import STOPWORDS_DIR, BilingualStemmer

_WORD_RE = re.compile(r"\w+", re.UNICODE)
# A sentence ends at . ! ? … (or a line end) followed by space and a capital, digit or quote.
_SENTENCE_END_RE = re.compile(r"(?<=[.!?…])\s+(?=[\"«(\[A-ZА-ЯЁ0-9])|\n+")
_FENCE_RE = re.compile(r"^\s{0,3}(```|~~~)")
_TABLE_ROW_RE = re.compile(r"^\s*\|")
_HEADING_RE = re.compile(r"^\s{0,3}#{1,6}\s")
_ITEM_RE = re.compile(r"^\s*(?:[-*+]|\d{1,9}[.)])\s+")


@dataclass(frozen=True)
class AttributionConfig:
    """`min_overlap`: share of a sentence's content words one document sentence must hold to support it.

    `relative`: a document is cited beside the best one only when its support is at least this share
    of the best document's.
    """

    min_overlap: float = 0.5
    relative: float = 0.75
    min_words: int = 3  # sentences with fewer content words ("Да.") are not judged


@dataclass(frozen=True)
class SupportedUnit:
    """A stretch of the answer (`start`..`end` characters of its text) and the model doc ids behind it."""

    start: int
    end: int
    doc_ids: tuple[int, ...]


@dataclass(frozen=True)
class Attribution:
    """Units with their documents, and the documents in order of first use (the sources to list)."""

    units: list[SupportedUnit] = field(default_factory=list)
    used: list[int] = field(default_factory=list)


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    words: set[str] = set()
    for language in ("russian", "english"):
        text = (STOPWORDS_DIR / f"{language}.txt").read_text(encoding="utf-8")
        words |= {w.strip().replace("ё", "е") for w in text.splitlines() if w.strip()}
    return frozenset(words)


class Attributor:
    """Links answer units to supporting documents by stemmed term overlap; pure CPU, no I/O."""

    def __init__(self, config: AttributionConfig | None = None) -> None:
        self._config = config or AttributionConfig()
        self._stemmer = BilingualStemmer()
        self._stems: dict[str, str] = {}

    def terms(self, text: str) -> frozenset[str]:
        stop = _stopwords()
        out: set[str] = set()
        for match in _WORD_RE.finditer(text.lower().replace("ё", "е")):
            word = match.group(0)
            if word in stop or (len(word) < 2 and not word.isdigit()):
                continue
            stem = self._stems.get(word)
            if stem is None:
                stem = self._stemmer.stem_word(word)
                if len(self._stems) < 100_000:
                    self._stems[word] = stem
            out.add(stem)
        return frozenset(out)

    def attribute(self, answer: str, documents: Mapping[int, str]) -> Attribution:
        """`documents`: model doc id → content, only the relevant ones. Linear in the texts' size."""
        doc_sentences = {
            doc_id: [t for t in (self.terms(s) for s in split_sentences(content)) if t]
            for doc_id, content in documents.items()
        }
        units: list[SupportedUnit] = []
        used: list[int] = []
        for start, end in answer_units(answer):
            scores: dict[int, float] = {}
            for sentence in split_sentences(answer[start:end]):
                terms = self.terms(sentence)
                if len(terms) < self._config.min_words:
                    continue
                best = {
                    doc_id: max((len(terms & ds) / len(terms) for ds in sentences), default=0.0)
                    for doc_id, sentences in doc_sentences.items()
                }
                top = max(best.values(), default=0.0)
                if top < self._config.min_overlap:
                    continue
                for doc_id, score in best.items():
                    if score >= self._config.min_overlap and score >= self._config.relative * top:
                        scores[doc_id] = max(scores.get(doc_id, 0.0), score)
            if scores:
                ranked = tuple(sorted(scores, key=lambda d: (-scores[d], d)))
                units.append(SupportedUnit(start, end, ranked))
                used.extend(d for d in ranked if d not in used)
        return Attribution(units=units, used=used)


def split_sentences(text: str) -> list[str]:
    """Sentences of a paragraph (Russian and English punctuation); never empty strings."""
    return [s.strip() for s in _SENTENCE_END_RE.split(text) if s and s.strip()]


def answer_units(text: str) -> list[tuple[int, int]]:
    """(start, end) of each paragraph, list item, heading or quote line; code and tables skipped.

    `end` stops before trailing spaces, where a reference mark can go without breaking Markdown.
    """
    spans: list[tuple[int, int]] = []
    in_fence = False
    unit_start: int | None = None
    unit_end = 0
    pos = 0
    for line in text.splitlines(keepends=True):
        line_start, pos = pos, pos + len(line)
        stripped = line.strip()
        if _FENCE_RE.match(line):
            in_fence = not in_fence
            stripped = ""
        starts_new = bool(_ITEM_RE.match(line) or _HEADING_RE.match(line))
        if in_fence or not stripped or _TABLE_ROW_RE.match(line) or starts_new:
            if unit_start is not None:
                spans.append((unit_start, unit_end))
                unit_start = None
            if starts_new and not in_fence:
                unit_start = line_start
                unit_end = line_start + len(line.rstrip())
                if _HEADING_RE.match(line):  # headings introduce, they claim nothing
                    unit_start = None
            continue
        if unit_start is None:
            unit_start = line_start
        unit_end = line_start + len(line.rstrip())
    if unit_start is not None:
        spans.append((unit_start, unit_end))
    return spans


def with_references(text: str, attribution: Attribution, numbers: Mapping[int, int]) -> str:
    """The answer with ` [1][2]` after each supported unit; `numbers` maps doc id → source number.

    The brackets are escaped so no Markdown parser reads them as a link.
    """
    out: list[str] = []
    pos = 0
    for unit in attribution.units:
        marks = sorted({numbers[d] for d in unit.doc_ids if d in numbers})
        if not marks:
            continue
        out.append(text[pos : unit.end])
        out.append(" " + "".join(f"\\[{n}\\]" for n in marks))
        pos = unit.end
    out.append(text[pos:])
    return "".join(out)


def cited_ids(attribution: Attribution, relevant: Sequence[int]) -> list[int]:
    """The relevant doc ids the answer drew on, in the order the answer first uses them."""
    allowed = set(relevant)
    return [d for d in attribution.used if d in allowed]
