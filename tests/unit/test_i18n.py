"""Every UI text exists in every language, so no user ever sees a raw message key, and reads as a
person wrote it: no internal words of the code (issue 14)."""

from __future__ import annotations

import pytest
from fluent.syntax import FluentParser, ast
from fluent.syntax.visitor import Visitor

from bot.handlers.upload_jobs import document_error_text, page_reason, whole_seconds
from bot.i18n.setup import LOCALES, LOCALES_DIR, create_i18n_core
from bot.ingest.document import CorruptDocumentError, EmptyDocumentError, ScanNeedsOcrError
from bot.ingest.web import HTTPStatusError

# Words of the code and of search engines that a user or an admin should never read (issue 14).
JARGON = ("фрагмент", "чанк", "chunk", "scope", "id документа", "indexed", "exists", "индексир", " 0.0 ")
# Every document kind the ingestion pipeline stores (bot/ingest): /docs names each one in words.
KINDS = ("pdf", "docx", "pptx", "xlsx", "epub", "markdown", "html", "web", "text", "image")


class _Texts(Visitor):
    """The words of a catalogue as users read them: text and string literals, not variable names."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []

    def visit_TextElement(self, node: ast.TextElement) -> None:  # noqa: N802 - fluent's visitor naming
        self.parts.append(node.value)

    def visit_StringLiteral(self, node: ast.StringLiteral) -> None:  # noqa: N802 - fluent's visitor naming
        self.parts.append(node.value)


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
    done_en = core.get("upload-done", "en", title="T", name="t.pdf", pages=3, chunks=7, seconds=1, doc_id="x")
    done_ru = core.get("upload-done", "ru", title="T", name="t.pdf", pages=0, chunks=7, seconds=1, doc_id="x")
    assert done_en == "Added “T” (t.pdf, 3 pages) in 1 second. I can answer from it now."
    assert done_ru == "Документ «T» (t.pdf) добавлен за 1 секунду. Теперь я отвечаю и по нему."
    assert core.get("not-found", "ru").startswith("В базе знаний нет ответа")


@pytest.mark.parametrize("locale", LOCALES)
def test_no_internal_words_reach_users(locale: str) -> None:
    resource = FluentParser().parse((LOCALES_DIR / locale / "messages.ftl").read_text(encoding="utf-8"))
    texts = _Texts()
    texts.visit(resource)
    words = " ".join(texts.parts).lower()
    assert [word for word in JARGON if word in words] == []


async def test_numbers_agree_with_their_nouns_and_seconds_are_whole() -> None:
    core = create_i18n_core()
    await core.startup()

    def done(locale: str, pages: int, seconds: float) -> str:
        whole = whole_seconds(seconds)
        return core.get("upload-done", locale, title="T", name="t.pdf", pages=pages, chunks=9, seconds=whole)

    assert "(t.pdf, 3 страницы) добавлен меньше чем за секунду." in done("ru", 3, 0.04)
    assert "(t.pdf, 21 страница) добавлен за 5 секунд." in done("ru", 21, 4.6)
    assert "(t.pdf, 1 page) in under a second." in done("en", 1, 0.3)
    assert "(t.pdf, 12 pages) in 2 seconds." in done("en", 12, 1.5)
    too_long = core.get("question-too-long", "ru", length=4001, limit=4000)
    assert "Вопрос слишком длинный: 4\xa0001 символ," in too_long  # digits grouped by a no-break space


class _Selectors(Visitor):
    """The variant keys of every select expression on one variable, e.g. `{ $kind -> [pdf] … }`."""

    def __init__(self, variable: str) -> None:
        super().__init__()
        self.variable = variable
        self.keys: set[str] = set()

    def visit_SelectExpression(self, node: ast.SelectExpression) -> None:  # noqa: N802 - fluent's visitor naming
        selector = node.selector
        if isinstance(selector, ast.VariableReference) and selector.id.name == self.variable:
            self.keys |= {v.key.name for v in node.variants if isinstance(v.key, ast.Identifier)}
        self.generic_visit(node)


@pytest.mark.parametrize("locale", LOCALES)
def test_docs_names_every_kind_in_words(locale: str) -> None:
    resource = FluentParser().parse((LOCALES_DIR / locale / "messages.ftl").read_text(encoding="utf-8"))
    [item] = [e for e in resource.body if isinstance(e, ast.Message) and e.id.name == "docs-item"]
    kinds = _Selectors("kind")
    kinds.visit(item)
    assert set(KINDS) <= kinds.keys  # none falls back to the code's own word ("markdown", "web")


@pytest.mark.parametrize("locale", LOCALES)
async def test_a_scan_without_ocr_and_an_empty_file_are_told_apart(locale: str) -> None:
    core = create_i18n_core()
    await core.startup()

    def t(key: str, /, **variables: object) -> str:
        return core.get(key, locale, **variables)

    scan = document_error_text(t, ScanNeedsOcrError("an image needs OCR, which is off"), "скан.png")
    empty = document_error_text(t, EmptyDocumentError("file is empty"), "пусто.txt")
    assert "скан.png" in scan
    assert "Tesseract" in scan  # what to install, for whoever runs the bot
    assert "пусто.txt" in empty
    assert "Tesseract" not in empty
    assert "OCR" not in empty


async def test_site_page_failures_are_told_in_the_admins_language() -> None:
    core = create_i18n_core()
    await core.startup()
    failures: list[Exception] = [HTTPStatusError(404), EmptyDocumentError("-"), CorruptDocumentError("-")]
    ru = [page_reason(lambda key, **kw: core.get(key, "ru", **kw), error) for error in failures]
    en = [page_reason(lambda key, **kw: core.get(key, "en", **kw), error) for error in failures]
    assert ru == ["сайт ответил ошибкой 404", "на странице нет текста", "страницу не удалось прочитать"]
    assert en == ["the site answered with error 404", "the page has no text", "the page could not be read"]
