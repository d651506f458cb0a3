"""PPTX, XLSX, EPUB and web pages, and the bad input of every zip format; fixtures are generated here."""

from __future__ import annotations

import io
import random
import zipfile
from collections.abc import Callable

import docx
import openpyxl
import pptx
import pytest
from msoffcrypto.format.ooxml import OOXMLFile
from pptx.util import Inches

from bot.ingest.chunking import DEFAULT_CHUNK_TOKENS, split_into_chunks
from bot.ingest.formats import zipguard
from bot.ingest.parsing import (
    CorruptDocumentError,
    DocumentError,
    EmptyDocumentError,
    PasswordProtectedError,
    UnsupportedFormatError,
    parse_document,
    parse_web_page,
)
from bot.ingest.tokens import count_tokens

# --- PPTX -------------------------------------------------------------------


def make_pptx(core_title: str = "") -> bytes:
    deck = pptx.Presentation()
    deck.core_properties.title = core_title
    title_slide = deck.slides.add_slide(deck.slide_layouts[0])
    title_slide.shapes.title.text = "Онбординг сотрудников"
    title_slide.placeholders[1].text = "Отдел кадров, 2024"

    bullets = deck.slides.add_slide(deck.slide_layouts[1])
    bullets.shapes.title.text = "Первый день"
    body = bullets.placeholders[1].text_frame
    body.text = "Получите пропуск на ресепшене"
    deeper = body.add_paragraph()
    deeper.text = "Паспорт обязателен"
    deeper.level = 1
    body.add_paragraph().text = "Настройте рабочую почту"
    bullets.notes_slide.notes_text_frame.text = "Напомнить про инструктаж по охране труда."

    table_slide = deck.slides.add_slide(deck.slide_layouts[5])
    table_slide.shapes.title.text = "Контакты"
    table = table_slide.shapes.add_table(3, 2, Inches(1), Inches(2), Inches(6), Inches(2)).table
    for row, (who, phone) in enumerate([("Кто", "Телефон"), ("ИТ-поддержка", "1234"), ("Охрана", "5678")]):
        table.cell(row, 0).text = who
        table.cell(row, 1).text = phone

    buffer = io.BytesIO()
    deck.save(buffer)
    return buffer.getvalue()


def test_pptx_sections_are_slides_with_titles_and_numbers() -> None:
    doc = parse_document(make_pptx(), "onboarding.pptx")

    assert doc.kind == "pptx"
    assert doc.pages == 3
    assert doc.title == "Онбординг сотрудников"  # python-pptx's default core title is skipped
    assert [(s.page, s.heading) for s in doc.sections] == [
        (1, "Онбординг сотрудников"),
        (2, "Первый день"),
        (3, "Контакты"),
    ]
    first_day = doc.sections[1].text
    assert "- Получите пропуск на ресепшене\n  - Паспорт обязателен\n- Настройте рабочую почту" in first_day
    assert "Notes: Напомнить про инструктаж" in first_day
    assert "| Кто | Телефон |\n|---|---|\n| ИТ-поддержка | 1234 |" in doc.sections[2].text
    assert "Picture" not in doc.text

    chunks = split_into_chunks(doc)
    assert {(c.page, c.section) for c in chunks} == {(s.page, s.heading) for s in doc.sections}


def test_pptx_core_title_wins() -> None:
    assert parse_document(make_pptx(core_title="Адаптация"), "deck.pptx").title == "Адаптация"


# --- XLSX -------------------------------------------------------------------


def make_xlsx(rows: int = 3) -> bytes:
    import datetime as dt

    book = openpyxl.Workbook()
    book.properties.title = "Справочник"
    staff = book.active
    assert staff is not None
    staff.title = "Сотрудники"
    staff.append(["ФИО", "Отдел", "Дата приёма", "Ставка"])
    for n in range(rows):
        staff.append([f"Сотрудник {n}", "Продажи | опт", dt.datetime(2024, 3, 1 + n % 28), 1.0])
    staff.append([])  # an empty row in the middle is dropped
    staff.append(["Итого", None, None, 0.5])
    prices = book.create_sheet("Цены")
    prices.append(["Товар", "Цена"])
    prices.append(["Бумага А4", 350.5])
    book.create_sheet("Пустой")
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def test_xlsx_sheets_become_sections_with_markdown_tables() -> None:
    doc = parse_document(make_xlsx(), "staff.xlsx")

    assert doc.kind == "xlsx"
    assert doc.title == "Справочник"
    assert [s.heading for s in doc.sections] == ["Сотрудники", "Цены"]  # the empty sheet is skipped
    assert doc.sections[0].text.splitlines()[:3] == [
        "| ФИО | Отдел | Дата приёма | Ставка |",
        "|---|---|---|---|",
        "| Сотрудник 0 | Продажи \\| опт | 2024-03-01 | 1 |",
    ]
    assert doc.sections[0].text.splitlines()[-1] == "| Итого |  |  | 0.5 |"
    assert "| Бумага А4 | 350.5 |" in doc.sections[1].text


def test_big_sheet_chunks_repeat_the_header_row_and_fit_the_limit() -> None:
    doc = parse_document(make_xlsx(rows=400), "staff.xlsx")

    chunks = [c for c in split_into_chunks(doc, max_tokens=200) if c.section == "Сотрудники"]

    assert len(chunks) > 5
    for chunk in chunks:
        assert chunk.text.startswith("| ФИО | Отдел | Дата приёма | Ставка |\n|---|---|---|---|\n| ")
        assert count_tokens(chunk.text) <= 200
    body = "\n".join(c.text for c in chunks)
    assert all(f"| Сотрудник {n} |" in body for n in range(400))


# --- EPUB -------------------------------------------------------------------

_CONTAINER = """<?xml version="1.0"?>
<container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">
<rootfiles><rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/></rootfiles>
</container>"""

_OPF = """<?xml version="1.0" encoding="utf-8"?>
<package xmlns="http://www.idpf.org/2007/opf" version="3.0" unique-identifier="id">
<metadata xmlns:dc="http://purl.org/dc/elements/1.1/">
<dc:identifier id="id">urn:uuid:1</dc:identifier><dc:title>Справочник администратора</dc:title>
<dc:language>ru</dc:language></metadata>
<manifest>
<item id="nav" href="nav.xhtml" media-type="application/xhtml+xml" properties="nav"/>
<item id="c1" href="text/ch1.xhtml" media-type="application/xhtml+xml"/>
<item id="c2" href="text/ch%202.xhtml" media-type="application/xhtml+xml"/>
<item id="ncx" href="toc.ncx" media-type="application/x-dtbncx+xml"/>
</manifest>
<spine toc="ncx"><itemref idref="nav"/><itemref idref="c1"/><itemref idref="c2"/></spine>
</package>"""

_NAV = """<?xml version="1.0" encoding="utf-8"?>
<html xmlns="http://www.w3.org/1999/xhtml" xmlns:epub="http://www.idpf.org/2007/ops"><body>
<nav epub:type="toc"><ol>
<li><a href="text/ch1.xhtml">Глава 1. Учётные записи</a>
<ol><li><a href="text/ch1.xhtml#reset">Сброс пароля</a></li></ol></li>
<li><a href="text/ch%202.xhtml">Глава 2. Резервные копии</a></li>
</ol></nav></body></html>"""

_NCX = """<?xml version="1.0" encoding="utf-8"?>
<ncx xmlns="http://www.daisy.org/z3986/2005/ncx/" version="2005-1"><navMap>
<navPoint id="p1"><navLabel><text>Глава 1 из NCX</text></navLabel><content src="text/ch1.xhtml"/></navPoint>
<navPoint id="p2"><navLabel><text>Глава 2 из NCX</text></navLabel>
<content src="text/ch%202.xhtml"/></navPoint>
</navMap></ncx>"""

_CHAPTER_1 = """<?xml version="1.0" encoding="utf-8"?>
<html xmlns="http://www.w3.org/1999/xhtml"><head><title>ch1</title><style>p {color: red}</style></head><body>
<h1>Глава 1. Учётные записи</h1><p>Учётные записи создаёт администратор домена.</p>
<h2 id="reset">Сброс пароля</h2><p>Пароль сбрасывается через портал самообслуживания.</p>
</body></html>"""

_CHAPTER_2 = """<?xml version="1.0" encoding="utf-8"?>
<html xmlns="http://www.w3.org/1999/xhtml"><head><title>ch2</title></head><body>
<p>Копии хранятся 30 дней на отдельном сервере.</p>
</body></html>"""


def make_epub(*, with_nav: bool = True, extra: dict[str, bytes] | None = None) -> bytes:
    opf = _OPF if with_nav else _OPF.replace(' properties="nav"', "").replace('<itemref idref="nav"/>', "")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("mimetype", "application/epub+zip", compress_type=zipfile.ZIP_STORED)
        archive.writestr("META-INF/container.xml", _CONTAINER)
        archive.writestr("OEBPS/content.opf", opf)
        archive.writestr("OEBPS/nav.xhtml", _NAV)
        archive.writestr("OEBPS/toc.ncx", _NCX)
        archive.writestr("OEBPS/text/ch1.xhtml", _CHAPTER_1)
        archive.writestr("OEBPS/text/ch 2.xhtml", _CHAPTER_2)
        for name, data in (extra or {}).items():
            archive.writestr(name, data, compress_type=zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def test_epub_chapters_in_spine_order_under_their_toc_titles() -> None:
    doc = parse_document(make_epub(), "admin.epub")

    assert doc.kind == "epub"
    assert doc.title == "Справочник администратора"
    assert [s.heading for s in doc.sections] == [
        "Глава 1. Учётные записи",
        "Глава 1. Учётные записи › Сброс пароля",
        "Глава 2. Резервные копии",  # no heading of its own: the TOC names it
    ]
    assert "портал самообслуживания" in doc.sections[1].text
    assert doc.sections[2].text == "Копии хранятся 30 дней на отдельном сервере."
    assert "color: red" not in doc.text
    assert "Глава 2. Резервные копии" not in doc.text  # the nav document is not content


def test_epub2_titles_come_from_the_ncx() -> None:
    doc = parse_document(make_epub(with_nav=False), "old.epub")
    assert doc.sections[-1].heading == "Глава 2 из NCX"


def test_epub_without_extension_is_recognised() -> None:
    assert parse_document(make_epub(), "book").kind == "epub"


# --- web pages --------------------------------------------------------------

WEB_PAGE = """<!DOCTYPE html><html><head><meta charset="windows-1251">
<title>Как настроить VPN</title>
<script>var tracking = "SCRIPT_MUST_NOT_LEAK";</script><style>.menu { color: red; }</style>
</head><body>
<nav><ul><li><a href="/">Главная NAV_MUST_NOT_LEAK</a></li><li><a href="/kb">База знаний</a></li></ul></nav>
<main><article>
<h1>Как настроить VPN</h1>
<p>Установите клиент WireGuard и импортируйте конфигурацию, которую выдал администратор сети.</p>
<h2>Ошибки подключения</h2>
<p>Если клиент сообщает об ошибке 809, проверьте брандмауэр и откройте UDP-порт 51820 для исходящих.</p>
<ul><li>Проверьте системное время.</li><li>Перезапустите службу WireGuard.</li></ul>
<table><tr><th>Код</th><th>Значение</th></tr><tr><td>809</td><td>Порт закрыт</td></tr></table>
<script>console.log("SCRIPT_MUST_NOT_LEAK")</script>
</article></main>
<footer>© 2024 Компания FOOTER_MUST_NOT_LEAK. Все права защищены.</footer>
</body></html>"""


def test_web_page_keeps_the_article_and_drops_navigation_footer_and_scripts() -> None:
    url = "https://support.example.com/kb/vpn"
    doc = parse_web_page(WEB_PAGE.encode("cp1251"), url, "text/html")

    assert doc.kind == "web"
    assert doc.file_name == url
    assert doc.title == "Как настроить VPN"
    for junk in ("SCRIPT_MUST_NOT_LEAK", "NAV_MUST_NOT_LEAK", "FOOTER_MUST_NOT_LEAK", "color: red"):
        assert junk not in doc.text
    assert [s.heading for s in doc.sections] == [
        "Как настроить VPN",
        "Как настроить VPN › Ошибки подключения",
    ]
    errors = doc.sections[1].text
    assert "ошибке 809" in errors
    assert "- Перезапустите службу WireGuard." in errors
    assert "| 809 | Порт закрыт |" in errors


def test_web_page_charset_from_the_http_header_wins() -> None:
    html = WEB_PAGE.replace("windows-1251", "utf-8").encode("cp1251")
    doc = parse_web_page(html, "https://example.com/vpn", "text/html; charset=windows-1251")
    assert "брандмауэр" in doc.text


@pytest.mark.parametrize(
    ("body", "content_type", "error"),
    [
        (b"", "text/html", EmptyDocumentError),
        (
            b"<html><head><script>go()</script><style>p {}</style></head><body> </body></html>",
            None,
            EmptyDocumentError,
        ),
        (b"%PDF-1.7", "application/pdf", UnsupportedFormatError),
    ],
)
def test_web_page_without_content_is_refused(
    body: bytes, content_type: str | None, error: type[DocumentError]
) -> None:
    with pytest.raises(error):
        parse_web_page(body, "https://example.com/", content_type)


# --- bad input: zip bombs, encryption, corruption ---------------------------


def make_docx() -> bytes:
    document = docx.Document()
    document.add_heading("Инструкция", level=1)
    document.add_paragraph("Обычный документ.")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


ZIP_FORMATS: dict[str, Callable[[], bytes]] = {
    "docx": make_docx,
    "xlsx": make_xlsx,
    "pptx": make_pptx,
    "epub": make_epub,
}


def with_members(data: bytes, members: dict[str, bytes]) -> bytes:
    """A copy of the zip ``data`` with extra members."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(buffer, "w") as target:
        for info in source.infolist():
            target.writestr(info, source.read(info))
        for name, payload in members.items():
            target.writestr(name, payload, compress_type=zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def forbid_inflating(monkeypatch: pytest.MonkeyPatch) -> None:
    """From here on, any attempt to open a member (i.e. to inflate anything) fails the test."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a zip member was opened")

    monkeypatch.setattr(zipfile.ZipFile, "open", refuse)


@pytest.mark.parametrize("kind", sorted(ZIP_FORMATS))
def test_zip_bomb_member_is_refused_without_inflating(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    bomb = _bomb_of(kind)
    forbid_inflating(monkeypatch)

    with pytest.raises(CorruptDocumentError, match="zip bomb"):
        parse_document(bomb, f"bomb.{kind}")


_BOMBS: dict[str, bytes] = {}


def _bomb_of(kind: str) -> bytes:
    # 16 MiB of zeros deflate to ~16 KiB: a ratio of ~1000:1, like a real bomb's members.
    if kind not in _BOMBS:
        _BOMBS[kind] = with_members(ZIP_FORMATS[kind](), {"media/zeros.bin": bytes(16 * 2**20)})
    return _BOMBS[kind]


def test_too_many_members_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    data = with_members(make_docx(), {f"junk/{n}.xml": b"" for n in range(zipguard.MAX_MEMBERS)})
    forbid_inflating(monkeypatch)
    with pytest.raises(CorruptDocumentError, match="zip bomb"):
        parse_document(data, "many.docx")


def test_total_unpacked_size_is_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    data = with_members(make_xlsx(), {"xl/media/photo.bin": random.Random(3).randbytes(1024 * 1024)})
    monkeypatch.setattr(zipguard, "MAX_UNPACKED_BYTES", 1024 * 1024)
    forbid_inflating(monkeypatch)
    with pytest.raises(CorruptDocumentError, match="more than 1 MB"):
        parse_document(data, "photos.xlsx")


def test_read_member_never_inflates_past_its_limit() -> None:
    data = with_members(make_docx(), {"big.bin": bytes(3 * 2**20)})
    with (
        zipfile.ZipFile(io.BytesIO(data)) as archive,
        pytest.raises(CorruptDocumentError, match="more than 1 MB"),
    ):
        zipguard.read_member(archive, "big.bin", limit=2**20)


@pytest.mark.parametrize("kind", ["docx", "xlsx", "pptx"])
@pytest.mark.parametrize("name_suffix", [True, False])
def test_encrypted_office_file_is_password_protected(kind: str, name_suffix: bool) -> None:
    encrypted = io.BytesIO()
    OOXMLFile(io.BytesIO(ZIP_FORMATS[kind]())).encrypt("secret", encrypted)
    name = f"locked.{kind}" if name_suffix else "locked"

    with pytest.raises(PasswordProtectedError, match="password-protected"):
        parse_document(encrypted.getvalue(), name)


def test_legacy_binary_office_file_renamed_is_unsupported() -> None:
    ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + random.Random(4).randbytes(4096)
    with pytest.raises(UnsupportedFormatError, match="legacy binary Office"):
        parse_document(ole, "old.docx")


@pytest.mark.parametrize("kind", sorted(ZIP_FORMATS))
def test_random_and_truncated_zip_formats_are_corrupt(kind: str) -> None:
    with pytest.raises(CorruptDocumentError):
        parse_document(random.Random(5).randbytes(4096), f"x.{kind}")
    good = ZIP_FORMATS[kind]()
    with pytest.raises(CorruptDocumentError):
        parse_document(good[: len(good) // 2], f"cut.{kind}")


@pytest.mark.parametrize("kind", sorted(ZIP_FORMATS))
def test_empty_zip_format_files_are_empty(kind: str) -> None:
    with pytest.raises(EmptyDocumentError, match="empty"):
        parse_document(b"", f"empty.{kind}")


def test_epub_without_package_document_is_corrupt() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("mimetype", "application/epub+zip")
        archive.writestr("META-INF/container.xml", _CONTAINER)
    with pytest.raises(CorruptDocumentError, match=r"content\.opf"):
        parse_document(buffer.getvalue(), "broken.epub")


def test_chunks_of_every_format_fit_the_token_limit() -> None:
    for kind, make in ZIP_FORMATS.items():
        for chunk in split_into_chunks(parse_document(make(), f"f.{kind}")):
            assert count_tokens(chunk.text) <= DEFAULT_CHUNK_TOKENS
