"""Russian or English, decided by the script the question is written in."""

from __future__ import annotations

from typing import Literal

Language = Literal["ru", "en"]


def detect_language(text: str, default: Language = "en") -> Language:
    # Two supported languages with different alphabets: counting letters is exact enough and free.
    cyrillic = sum(1 for ch in text if "а" <= ch.lower() <= "я" or ch.lower() == "ё")
    latin = sum(1 for ch in text if "a" <= ch.lower() <= "z")
    if cyrillic == latin == 0:
        return default
    return "ru" if cyrillic >= latin else "en"


def locale_language(language_code: str | None, default: Language = "en") -> Language:
    """The UI language for a Telegram user's language_code (e.g. "ru", "ru-RU", "uk")."""
    if not language_code:
        return default
    code = language_code.lower().split("-")[0]
    # Users of these clients overwhelmingly read Russian better than English.
    return "ru" if code in {"ru", "uk", "be", "kk"} else "en"
