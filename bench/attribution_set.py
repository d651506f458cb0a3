"""The hand-labelled attribution set: 30 answer-like texts built from XQuAD paragraphs (issue 10).

Each item has six documents: five paragraphs of one article (same subject, so the documents look alike)
and one from another article. Three are "relevant" (as the model's pass 1 would say); the answer draws on
two of them and never on the third. Each answer paragraph is made of sentences from known paragraphs,
shortened as a model shortens when it answers (a third of the words dropped, the order kept), sometimes
two sentences from two documents in one paragraph, sometimes a closing sentence no document supports.
The labels follow from the construction; the items were also read through (`--show`).

The data is read from ../shared/eval/xquad at run time and never copied into the repository.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

_SENTENCE_RE = re.compile(r"(?<=[.!?])\s+(?=[A-ZА-ЯЁ0-9\"«])")
_CLOSING = {
    "ru": ["Если нужны подробности, уточните вопрос.", "Надеюсь, это помогает разобраться."],
    "en": ["Let me know if you need more details.", "I hope this helps you understand it."],
}


@dataclass(frozen=True)
class LabelledAnswer:
    language: str
    documents: dict[int, str]  # model doc id → content (all six)
    relevant: list[int]  # what pass 1 returned: the two used and one never used
    text: str
    units: list[set[int]]  # per answer paragraph, the doc ids that support it (empty: none)

    @property
    def used(self) -> set[int]:
        return set().union(*self.units)


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_RE.split(text.strip().lstrip("\ufeff")) if len(s.split()) >= 6]


def _shorten(sentence: str, rng: random.Random) -> str:
    words = sentence.rstrip(".").split()
    keep = [w for i, w in enumerate(words) if i == 0 or rng.random() > 0.33]
    return " ".join(keep) + "."


def build_set(xquad_dir: Path, count: int = 30, seed: int = 10) -> list[LabelledAnswer]:
    """`count` items, half Russian and half English, the same every run for the same seed."""
    rng = random.Random(seed)
    items: list[LabelledAnswer] = []
    for index in range(count):
        language = "ru" if index % 2 == 0 else "en"
        data = json.loads((xquad_dir / f"xquad.{language}.json").read_text(encoding="utf-8"))["data"]
        article, other = rng.sample(range(len(data)), 2)
        paragraphs = [p["context"] for p in data[article]["paragraphs"]][:5]
        paragraphs.append(rng.choice(data[other]["paragraphs"])["context"])
        order = list(range(6))
        rng.shuffle(order)
        documents = {doc_id: paragraphs[source].lstrip("\ufeff") for doc_id, source in enumerate(order)}
        relevant = rng.sample(range(6), 3)
        used, unused = relevant[:2], relevant[2]
        pools = {d: _sentences(documents[d]) for d in used}
        units: list[set[int]] = []
        texts: list[str] = []
        for unit in range(rng.randint(2, 4)):
            doc = used[unit % 2]
            if not pools[doc]:
                continue
            sentence = _shorten(pools[doc].pop(rng.randrange(len(pools[doc]))), rng)
            labels = {doc}
            partner = used[(unit + 1) % 2]
            if rng.random() < 0.3 and pools[partner]:
                sentence += " " + _shorten(pools[partner].pop(rng.randrange(len(pools[partner]))), rng)
                labels.add(partner)
            prefix = "- " if unit and rng.random() < 0.3 else ""
            texts.append(prefix + sentence)
            units.append(labels)
        if rng.random() < 0.4:
            texts.append(rng.choice(_CLOSING[language]))
            units.append(set())
        items.append(
            LabelledAnswer(
                language=language,
                documents=documents,
                relevant=[*used, unused],
                text="\n\n".join(texts),
                units=units,
            )
        )
    return items
