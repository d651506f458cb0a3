from __future__ import annotations

from bot.rag.language import detect_language, locale_language


def test_question_language_follows_its_alphabet() -> None:
    assert detect_language("Как вернуть товар?") == "ru"
    assert detect_language("How do I return an item?") == "en"
    assert detect_language("Что такое ERR-4512 в API?") == "ru"
    assert detect_language("12345") == "en"


def test_interface_language_from_telegram_language_code() -> None:
    assert locale_language("ru") == "ru"
    assert locale_language("ru-RU") == "ru"
    assert locale_language("en-GB") == "en"
    assert locale_language("de") == "en"
    assert locale_language(None) == "en"
