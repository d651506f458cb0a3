"""Which legacy Cyrillic code page a byte string is in, judged by how Russian the result reads.

charset_normalizer (our detector) reads a short KOI8-R note as Shift_JIS half-width katakana and
confuses the four Cyrillic code pages on short texts: they all decode any byte, so only the letters
they produce tell them apart. Decoded with the right code page, Russian text has its non-ASCII
characters almost all Russian letters, mostly lowercase, capitals only at word starts, no word mixing
Latin and Cyrillic letters, and the usual letter frequencies (о, е, а, и, н, т ... frequent; ъ, ё, щ rare).
A wrong code page breaks at least one of these (KOI8-R read as CP1251 is all capitals with lowercase
initials; CP1251 read as CP866 or MacCyrillic yields box-drawing signs or Serbian letters).
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass

__all__ = ["CYRILLIC_CODE_PAGES", "best_cyrillic_decoding", "russian_plausibility"]

# Python codec names, in the order we prefer them on a tie (what Russian users' files are in most often).
CYRILLIC_CODE_PAGES = ("cp1251", "koi8_r", "cp866", "mac_cyrillic")

# Letter frequencies of Russian prose, per cent (the national corpus's classic table, Lebedev & Ushakov).
_FREQUENCY = {
    "о": 10.97, "е": 8.45, "а": 8.01, "и": 7.35, "н": 6.70, "т": 6.26, "с": 5.47, "р": 4.73,
    "в": 4.54, "л": 4.40, "к": 3.49, "м": 3.21, "д": 2.98, "п": 2.81, "у": 2.62, "я": 2.01,
    "ы": 1.90, "ь": 1.74, "г": 1.70, "з": 1.65, "б": 1.59, "ч": 1.44, "й": 1.21, "х": 0.97,
    "ж": 0.94, "ш": 0.73, "ю": 0.64, "ц": 0.48, "щ": 0.36, "э": 0.32, "ф": 0.26, "ъ": 0.04,
    "ё": 0.04,
}  # fmt: skip
_LOG_FREQUENCY = {letter: math.log(share / 100) for letter, share in _FREQUENCY.items()}
# Characters a Russian text outside ASCII has besides letters: quotes, dashes, №, nbsp, ellipsis.
_RUSSIAN_PUNCTUATION = frozenset("«»—–№\u00a0…„“”‘’·°")
_WORD = re.compile(r"[^\W\d_]+")

# Below these the bytes are not Russian in any of the code pages.
_MIN_RUSSIAN_SHARE = 0.9  # of the non-ASCII characters
_MAX_ANOMALY_RATE = 0.5  # anomalous words per Cyrillic word (short notes have few words)
_MIN_MEAN_LOG_FREQUENCY = -4.2  # uniform letters give ln(1/33) = -3.5; Russian prose about -3.0


@dataclass(frozen=True)
class _Reading:
    text: str
    score: float


def russian_plausibility(text: str) -> float | None:
    """How much ``text`` reads like Russian, higher is better; None when it cannot be Russian.

    Only the non-ASCII part is judged (ASCII reads the same in every code page): None when
    under 90 % of those characters are Russian letters or punctuation, when over half of the
    Cyrillic words are anomalous (a capital after a lowercase letter, Cyrillic mixed with Latin),
    or when the letters' mean log frequency is below that of uniformly random letters.
    """
    non_ascii = [ch for ch in text if ord(ch) >= 0x80]
    if not non_ascii:
        return None
    letters = [ch.lower() for ch in non_ascii if ch.lower() in _FREQUENCY]
    if not letters or len(letters) + sum(ch in _RUSSIAN_PUNCTUATION for ch in non_ascii) < (
        _MIN_RUSSIAN_SHARE * len(non_ascii)
    ):
        return None
    words = _WORD.findall(text)
    cyrillic_words = [word for word in words if any(ch.lower() in _FREQUENCY for ch in word)]
    # The last word may be cut short (a truncated preview, a 20-byte note): "п" is then fine.
    anomalies = sum(_anomalous(word) for word in cyrillic_words[:-1]) + _misplaced_capitals(text)
    if cyrillic_words:
        anomalies += _anomalous(cyrillic_words[-1], last=True)
    anomaly_rate = anomalies / max(1, len(cyrillic_words))
    mean_log_frequency = sum(_LOG_FREQUENCY[ch] for ch in letters) / len(letters)
    if anomaly_rate > _MAX_ANOMALY_RATE or mean_log_frequency < _MIN_MEAN_LOG_FREQUENCY:
        return None
    # A wrong code page turns some letters into signs (MacCyrillic's capitals read as CP1251 are
    # quotes and dashes) or makes most of them capitals (KOI8-R read as CP1251).
    signs = sum(ch.lower() not in _FREQUENCY and ch not in _RUSSIAN_PUNCTUATION for ch in non_ascii)
    capitals = sum(ch.isupper() for ch in non_ascii) / len(non_ascii)
    return mean_log_frequency - 4 * anomaly_rate - 4 * signs / len(non_ascii) - 2 * max(0.0, capitals - 0.5)


# The Russian words of one letter (prepositions, conjunctions, particles); "Ч" or "Р" alone is a
# dash or a quote read with the wrong code page.
_ONE_LETTER_WORDS = frozenset("авикосуяжбэ")
# A capital one-letter word inside a sentence ("где С площадь") is a dash read as "С" (MacCyrillic).
_CAPITAL_LETTER_MID_SENTENCE = re.compile(r"[^\W\d_,;:][ \t]+[А-ЯЁ](?=[ \t])")
_SENTENCE_START = re.compile(r"(?:^|[.!?]\s+|\n)\W*([^\W\d_])")


def _anomalous(word: str, *, last: bool = False) -> bool:
    mixed_script = any(ch.isascii() for ch in word)
    camel = any(a.islower() and b.isupper() for a, b in itertools.pairwise(word))
    stray_letter = len(word) == 1 and word.lower() not in _ONE_LETTER_WORDS and not last
    return mixed_script or camel or stray_letter


def _misplaced_capitals(text: str) -> int:
    """Sentences that start with a lowercase Cyrillic letter (a capital read as a sign lost its place),
    plus capital one-letter words inside a sentence (a sign read as a capital)."""
    starts = (match.group(1) for match in _SENTENCE_START.finditer(text))
    lowercase_starts = sum(1 for letter in starts if letter.islower() and not letter.isascii())
    return len(_CAPITAL_LETTER_MID_SENTENCE.findall(text)) + lowercase_starts


def best_cyrillic_decoding(data: bytes) -> str | None:
    """``data`` decoded with the Cyrillic code page that reads most like Russian, or None if none does."""
    best: _Reading | None = None
    for encoding in CYRILLIC_CODE_PAGES:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        score = russian_plausibility(text)
        if score is not None and (best is None or score > best.score):
            best = _Reading(text, score)
    return None if best is None else best.text
