"""Every UI text exists in every language, so no user ever sees a raw message key."""

from __future__ import annotations

from fluent.syntax import FluentParser, ast

from bot.i18n.setup import LOCALES, LOCALES_DIR, create_i18n_core


def _keys(locale: str) -> set[str]:
    resource = FluentParser().parse((LOCALES_DIR / locale / "messages.ftl").read_text(encoding="utf-8"))
    junk = [entry for entry in resource.body if isinstance(entry, ast.Junk)]
    assert not junk, f"{locale}: syntax errors in messages.ftl: {junk}"
    return {entry.id.name for entry in resource.body if isinstance(entry, ast.Message)}


def test_all_locales_have_the_same_keys() -> None:
    reference = _keys("en")
    for locale in LOCALES:
        assert _keys(locale) == reference, f"{locale} differs from en"


async def test_texts_render_in_both_languages() -> None:
    core = create_i18n_core()
    await core.startup()
    done_en = core.get(
        "upload-done", "en", title="T", name="t.pdf", pages=3, chunks=7, seconds="1.2", doc_id="x"
    )
    done_ru = core.get(
        "upload-done", "ru", title="T", name="t.pdf", pages=0, chunks=7, seconds="1.2", doc_id="x"
    )
    assert "3 pages, 7 chunks" in done_en
    assert "фрагментов: 7" in done_ru
    assert "страниц" not in done_ru  # a file without pages does not claim any
    assert core.get("not-found", "ru").startswith("В базе знаний нет ответа")
