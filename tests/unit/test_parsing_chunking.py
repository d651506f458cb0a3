"""Parsing and chunking of uploaded documents; every fixture is generated here."""

from __future__ import annotations

import importlib.resources
import importlib.util
import io
import os
import random
from pathlib import Path

import docx
import pytest
from fpdf import FPDF
from PIL import Image

from bot.ingest.chunking import DEFAULT_CHUNK_CHARS, DEFAULT_CHUNK_TOKENS, ChunkDraft, split_into_chunks
from bot.ingest.parsing import (
    SUPPORTED_EXTENSIONS,
    CorruptDocumentError,
    EmptyDocumentError,
    ParsedDocument,
    PasswordProtectedError,
    ScanNeedsOcrError,
    UnsupportedFormatError,
    parse_document,
)
from bot.ingest.tokens import TEKKEN_FILE, count_tokens, tekken_encoding
from tests.support.documents import find_cyrillic_font, make_pdf

# --- fixtures ---------------------------------------------------------------


@pytest.fixture(scope="module")
def cyrillic_font() -> Path:
    try:
        return find_cyrillic_font()
    except FileNotFoundError as exc:
        pytest.fail(str(exc))


PDF_PAGES = [
    "Страница 1. Введение в систему учёта заявок. Съешь же ещё этих мягких французских булок.",
    "Страница 2. Установка сервера: скачайте архив и распакуйте его в каталог /opt/app.",
    "Страница 3. Резервное копирование выполняется каждую ночь в 03:00 по московскому времени.",
]


def parse_chunks(data: bytes, name: str, max_chars: int = DEFAULT_CHUNK_CHARS) -> list[ChunkDraft]:
    return split_into_chunks(parse_document(data, name), max_chars)


# --- PDF --------------------------------------------------------------------


def test_pdf_sections_carry_page_numbers_and_cyrillic_text(cyrillic_font: Path) -> None:
    data = make_pdf(cyrillic_font, PDF_PAGES, title="Руководство администратора")

    doc = parse_document(data, "admin-guide.pdf")

    assert doc.kind == "pdf"
    assert doc.pages == 3
    assert doc.title == "Руководство администратора"
    assert [s.page for s in doc.sections] == [1, 2, 3]
    assert [s.heading for s in doc.sections] == [None, None, None]
    for section, expected in zip(doc.sections, PDF_PAGES, strict=True):
        assert " ".join(section.text.split()) == expected
    chunks = split_into_chunks(doc)
    assert [c.page for c in chunks] == [1, 2, 3]
    assert "московскому времени" in chunks[2].text


def test_pdf_chunks_never_mix_pages(cyrillic_font: Path) -> None:
    long_pages = [f"Текст страницы номер {n} повторяется. " * 40 for n in (1, 2, 3)]
    doc = parse_document(make_pdf(cyrillic_font, long_pages), "long.pdf")
    assert doc.pages == 3

    chunks = split_into_chunks(doc, max_chars=500)

    assert len(chunks) > 6
    for chunk in chunks:
        assert len(chunk.text) <= 500
        other_pages = {1, 2, 3} - {chunk.page}
        assert all(f"номер {n}" not in chunk.text for n in other_pages)
    assert {c.page for c in chunks} == {1, 2, 3}


@pytest.mark.parametrize(
    ("metadata_title", "expected"),
    [
        (None, "Отчёт за 2024"),
        ("Untitled", "Отчёт за 2024"),
        ("Microsoft Word - Годовой отчёт.docx", "Годовой отчёт"),
    ],
)
def test_pdf_title_skips_junk_metadata(
    cyrillic_font: Path, metadata_title: str | None, expected: str
) -> None:
    doc = parse_document(make_pdf(cyrillic_font, PDF_PAGES[:1], title=metadata_title), "Отчёт за 2024.pdf")
    assert doc.title == expected


def test_pdf_line_end_hyphenation_is_joined_but_compound_words_kept(cyrillic_font: Path) -> None:
    pdf = FPDF()
    pdf.add_font("Cyr", fname=str(cyrillic_font))
    pdf.set_font("Cyr", size=12)
    pdf.add_page()
    for line in ["Это слово перено-", "сится на новую строку.", "Город Санкт-", "Петербург."]:
        pdf.cell(0, 8, line, new_x="LMARGIN", new_y="NEXT")

    text = parse_document(bytes(pdf.output()), "hyphen.pdf").text

    assert "переносится" in text
    assert "Санкт-Петербург" in text


def test_pdf_without_extension_is_recognised(cyrillic_font: Path) -> None:
    doc = parse_document(make_pdf(cyrillic_font, PDF_PAGES[:1]), "scan_0001")
    assert doc.kind == "pdf"
    assert "Введение" in doc.text


def test_scanned_pdf_without_text_layer_is_reported_as_scanned() -> None:
    pdf = FPDF()
    for _ in range(2):
        pdf.add_page()
        pdf.image(Image.new("RGB", (400, 200), "white"), x=10, y=10, w=190)

    with pytest.raises(ScanNeedsOcrError, match="scanned"):
        parse_document(bytes(pdf.output()), "scan.pdf", ocr=None)
    # With OCR at hand, blank scans are read and found empty: not a scan that needs OCR.
    with pytest.raises(EmptyDocumentError, match="not even by OCR") as refused:
        parse_document(bytes(pdf.output()), "scan.pdf")
    assert not isinstance(refused.value, ScanNeedsOcrError)


def test_password_protected_pdf_is_rejected(cyrillic_font: Path) -> None:
    pdf = FPDF()
    pdf.add_font("Cyr", fname=str(cyrillic_font))
    pdf.set_font("Cyr", size=12)
    pdf.add_page()
    pdf.cell(0, 10, "Секретные данные")
    pdf.set_encryption(owner_password="owner", user_password="reader")

    with pytest.raises(PasswordProtectedError, match="password-protected PDF"):
        parse_document(bytes(pdf.output()), "secret.pdf")


def test_pdf_locked_only_against_editing_is_still_read(cyrillic_font: Path) -> None:
    pdf = FPDF()
    pdf.add_font("Cyr", fname=str(cyrillic_font))
    pdf.set_font("Cyr", size=12)
    pdf.add_page()
    pdf.cell(0, 10, "Открытый текст")
    pdf.set_encryption(owner_password="owner")  # no user password: anyone may open it

    assert "Открытый текст" in parse_document(bytes(pdf.output()), "locked.pdf").text


# --- DOCX -------------------------------------------------------------------


def make_docx(core_title: str = "") -> bytes:
    document = docx.Document()
    document.core_properties.title = core_title
    document.add_paragraph("Версия 2.1, только для внутреннего использования.")
    document.add_heading("Руководство пользователя", level=1)
    document.add_paragraph("Этот документ описывает работу с системой.")
    document.add_heading("Установка", level=2)
    paragraph = document.add_paragraph("Запустите ")
    paragraph.add_run("install.sh").bold = True
    paragraph.add_run(" от имени root; формула 2*2*2 = 8.")
    document.add_heading("Настройка", level=2)
    document.add_paragraph("Откройте файл config_local.yaml и укажите адрес сервера.")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def test_docx_headings_become_section_paths() -> None:
    doc = parse_document(make_docx(), "guide.docx")

    assert doc.kind == "docx"
    assert doc.pages is None
    assert doc.title == "Руководство пользователя"
    assert [s.heading for s in doc.sections] == [
        None,
        "Руководство пользователя",
        "Руководство пользователя › Установка",
        "Руководство пользователя › Настройка",
    ]
    install = doc.sections[2]
    assert install.text.startswith("## Установка")
    assert "**install.sh**" in install.text
    # Markdown escaping ("2\*2", "config\_local") would leak into answers.
    assert "2*2*2 = 8" in install.text
    assert "config_local.yaml" in doc.sections[3].text


def test_docx_core_title_wins_over_first_heading() -> None:
    doc = parse_document(make_docx(core_title="Регламент ИТ-отдела"), "r.docx")
    assert doc.title == "Регламент ИТ-отдела"


def test_docx_without_extension_is_recognised() -> None:
    assert parse_document(make_docx(), "attachment").kind == "docx"


# --- HTML -------------------------------------------------------------------

HTML_PAGE = """<!DOCTYPE html>
<html><head>
<meta charset="windows-1251">
<title>База знаний: VPN</title>
<style>.warning { color: red; }</style>
<script>var trackingSecret = "SCRIPT_MUST_NOT_LEAK";</script>
</head><body>
<p>Вводная строка до заголовков.</p>
<h1>Подключение к VPN</h1>
<p>Используйте клиент <b>WireGuard</b>.</p>
<h2>Ошибки</h2>
<p>При ошибке 809 проверьте брандмауэр.</p>
<script>console.log("SCRIPT_MUST_NOT_LEAK")</script>
</body></html>"""


def test_html_title_headings_and_no_scripts() -> None:
    doc = parse_document(HTML_PAGE.encode("cp1251"), "vpn.HTM")

    assert doc.kind == "html"
    assert doc.title == "База знаний: VPN"
    assert "SCRIPT_MUST_NOT_LEAK" not in doc.text
    assert "color: red" not in doc.text
    assert [s.heading for s in doc.sections] == [None, "Подключение к VPN", "Подключение к VPN › Ошибки"]
    assert doc.sections[1].text.startswith("# Подключение к VPN")
    assert "**WireGuard**" in doc.sections[1].text
    assert "ошибке 809" in doc.sections[2].text


def test_html_without_title_uses_first_h1() -> None:
    html = "<html><body><h1>Отпуск</h1><p>Заявление подаётся за две недели.</p></body></html>"
    assert parse_document(html.encode(), "page.html").title == "Отпуск"


# --- Markdown and plain text ------------------------------------------------

MARKDOWN = """Черновик, не публиковать.

# Инструкция по развёртыванию

Общие сведения.

```bash
# это комментарий в коде, а не заголовок
./deploy.sh
```

## Установка

### Linux

Выполните `apt install app`.

## Обновление

Остановите сервис перед обновлением.
"""


def test_markdown_sections_follow_heading_hierarchy() -> None:
    doc = parse_document(MARKDOWN.encode(), "deploy.md")

    assert doc.kind == "markdown"
    assert doc.title == "Инструкция по развёртыванию"
    assert [s.heading for s in doc.sections] == [
        None,
        "Инструкция по развёртыванию",
        "Инструкция по развёртыванию › Установка",
        "Инструкция по развёртыванию › Установка › Linux",
        "Инструкция по развёртыванию › Обновление",
    ]
    assert "# это комментарий в коде" in doc.sections[1].text
    assert doc.sections[3].text == "### Linux\n\nВыполните `apt install app`."


def test_markdown_heading_only_sections_do_not_become_chunks() -> None:
    chunks = parse_chunks(MARKDOWN.encode(), "deploy.markdown")

    assert "## Установка" not in [c.text for c in chunks]
    assert [c.section for c in chunks] == [
        None,
        "Инструкция по развёртыванию",
        "Инструкция по развёртыванию › Установка › Linux",
        "Инструкция по развёртыванию › Обновление",
    ]


RUSSIAN_TEXT = "Съешь же ещё этих мягких французских булок, да выпей чаю.\nЁлка и йогурт.\n"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1251", "utf-16"])
def test_text_files_in_common_russian_encodings(encoding: str) -> None:
    data = RUSSIAN_TEXT.encode(encoding)
    if encoding == "utf-16":
        assert data.startswith((b"\xff\xfe", b"\xfe\xff"))  # Python writes the BOM

    doc = parse_document(data, "заметка.txt")

    assert doc.kind == "text"
    assert doc.title == "заметка"
    assert doc.text == RUSSIAN_TEXT.strip()
    assert [(s.page, s.heading) for s in doc.sections] == [(None, None)]


@pytest.mark.parametrize("text", ["Привет, мир", "ПРИВЕТ МИР", "Пункт 1. Проверка. " * 30])
def test_short_or_repetitive_cp1251_is_not_mistaken_for_another_code_page(text: str) -> None:
    # charset_normalizer's own best guess is cp1125, UTF-16 LE and cp1253 here.
    assert parse_document(text.encode("cp1251"), "hi.txt").text == text.strip()


def test_utf16_without_bom_is_decoded() -> None:
    assert parse_document(RUSSIAN_TEXT.encode("utf-16-le"), "n.txt").text == RUSSIAN_TEXT.strip()


def test_extension_is_case_insensitive() -> None:
    assert parse_document(b"# Title\n\ntext", "README.MD").kind == "markdown"
    assert {
        ".pdf",
        ".docx",
        ".pptx",
        ".xlsx",
        ".epub",
        ".txt",
        ".md",
        ".markdown",
        ".html",
        ".htm",
        ".xhtml",
        # Issue 11: images are read by OCR.
        ".png",
        ".jpg",
        ".jpeg",
        ".tif",
        ".tiff",
    } == SUPPORTED_EXTENSIONS


# --- bad input --------------------------------------------------------------


@pytest.mark.parametrize("name", ["empty.txt", "empty.pdf", "empty.docx", "empty.md"])
def test_empty_file_is_empty_document(name: str) -> None:
    with pytest.raises(EmptyDocumentError, match="empty"):
        parse_document(b"", name)


def test_whitespace_only_text_is_empty_document() -> None:
    with pytest.raises(EmptyDocumentError):
        parse_document(" \n\t\n".encode("utf-16"), "blank.txt")


def test_random_bytes_named_pdf_are_corrupt() -> None:
    with pytest.raises(CorruptDocumentError, match="PDF"):
        parse_document(random.Random(1).randbytes(4096), "report.pdf")


def test_random_bytes_named_docx_are_corrupt() -> None:
    with pytest.raises(CorruptDocumentError):
        parse_document(random.Random(2).randbytes(4096), "report.docx")


def test_truncated_docx_is_corrupt() -> None:
    with pytest.raises(CorruptDocumentError):
        parse_document(make_docx()[:3000], "cut.docx")


def test_binary_garbage_named_txt_is_corrupt() -> None:
    with pytest.raises(CorruptDocumentError, match="not a text file"):
        parse_document(bytes(range(32)) * 64, "notes.txt")


@pytest.mark.parametrize("name", ["setup.exe", "archive.zip", "video.MP4", "noextension", "old.doc"])
def test_unknown_format_is_unsupported(name: str) -> None:
    with pytest.raises(UnsupportedFormatError):
        parse_document(os.urandom(2048).replace(b"%PDF-", b"xxxxx"), name)


def test_garbage_named_as_an_image_is_corrupt() -> None:
    # Issue 11: images are a supported type now, so a broken one is reported as unreadable.
    with pytest.raises(CorruptDocumentError, match="unreadable image"):
        parse_document(b"\x00garbage" * 200, "photo.JPG")


# --- chunking ---------------------------------------------------------------

_WORDS = [
    "система",
    "сервер",
    "пользователь",
    "заявка",
    "отчёт",
    "настройка",
    "доступ",
    "пароль",
    "резервное",
    "копирование",
    "журнал",
    "ошибка",
    "обновление",
    "версия",
    "модуль",
    "база",
    "данных",
    "сеть",
    "адрес",
    "порт",
    "служба",
    "проверка",
    "документ",
    "инструкция",
    "администратор",
    "политика",
    "безопасность",
    "шифрование",
    "ключ",
    "сертификат",
]


def make_long_markdown() -> tuple[str, dict[str, str]]:
    """~20k characters; returns the text and {paragraph opening: heading path}."""
    rng = random.Random(20240601)
    lines = ["# Регламент эксплуатации", ""]
    openings: dict[str, str] = {}
    for chapter in range(1, 5):
        lines += [f"## Глава {chapter}", ""]
        for part in range(1, 4):
            lines += [f"### Часть {chapter}.{part}", ""]
            path = f"Регламент эксплуатации › Глава {chapter} › Часть {chapter}.{part}"
            for paragraph in range(1, 5):
                opening = f"Абзац {chapter}-{part}-{paragraph}"
                sentences = [
                    " ".join(rng.choice(_WORDS) for _ in range(rng.randint(6, 14))).capitalize() + "."
                    for _ in range(rng.randint(2, 6))
                ]
                lines += [f"{opening}: " + " ".join(sentences), ""]
                openings[opening] = path
    return "\n".join(lines), openings


def test_long_markdown_chunks_fit_keep_sections_and_lose_nothing() -> None:
    markdown, openings = make_long_markdown()
    assert len(markdown) > 18_000

    doc = parse_document(markdown.encode(), "reglament.md")
    chunks = split_into_chunks(doc)

    assert all(count_tokens(c.text) <= DEFAULT_CHUNK_TOKENS for c in chunks)
    assert all(c.text.strip() for c in chunks)
    for opening, path in openings.items():
        holders = [c for c in chunks if opening + ":" in c.text]
        assert holders, f"{opening} was lost"
        assert {c.section for c in holders} == {path}
    assert split_into_chunks(parse_document(markdown.encode(), "reglament.md")) == chunks


def test_smaller_limit_is_respected_everywhere() -> None:
    markdown, openings = make_long_markdown()

    chunks = parse_chunks(markdown.encode(), "reglament.md", max_chars=400)

    assert max(len(c.text) for c in chunks) <= 400
    assert all(any(o + ":" in c.text for c in chunks) for o in openings)


def test_plain_text_chunks_have_no_section_or_page() -> None:
    text = "\n\n".join(f"Пункт {n}. " + "Подробное описание процедуры. " * 20 for n in range(30))

    chunks = parse_chunks(text.encode("cp1251"), "procedures.txt")

    assert len(chunks) > 5
    assert {(c.page, c.section) for c in chunks} == {(None, None)}
    assert all(count_tokens(c.text) <= DEFAULT_CHUNK_TOKENS for c in chunks)
    assert all(f"Пункт {n}." in "\n".join(c.text for c in chunks) for n in range(30))


def test_invalid_limit_is_rejected() -> None:
    doc = ParsedDocument(title="t", file_name="t.txt", kind="text", pages=None, sections=[])
    with pytest.raises(ValueError, match="positive"):
        split_into_chunks(doc, 0)


def test_token_limit_holds_with_the_real_tokenizer_and_sections_are_kept() -> None:
    markdown, openings = make_long_markdown()

    chunks = parse_chunks_tokens(markdown.encode(), "reglament.md", max_tokens=120)

    assert max(count_tokens(c.text) for c in chunks) <= 120
    for opening, path in openings.items():
        assert {c.section for c in chunks if opening + ":" in c.text} == {path}


def parse_chunks_tokens(data: bytes, name: str, max_tokens: int) -> list[ChunkDraft]:
    return split_into_chunks(parse_document(data, name), max_tokens=max_tokens)


def test_max_chars_still_caps_chunks_alongside_tokens() -> None:
    markdown, _ = make_long_markdown()
    doc = parse_document(markdown.encode(), "reglament.md")

    both = split_into_chunks(doc, 300)  # the pipeline's positional call
    chars_only = split_into_chunks(doc, max_chars=300, max_tokens=None)

    assert max(len(c.text) for c in both) <= 300
    assert max(count_tokens(c.text) for c in both) <= DEFAULT_CHUNK_TOKENS
    assert max(len(c.text) for c in chars_only) <= 300
    with pytest.raises(ValueError, match="max_tokens"):
        split_into_chunks(doc, max_tokens=None)


def test_tekken_counts_match_mistral_commons_own_tokenizer() -> None:
    from mistral_common.tokens.tokenizers.tekken import Tekkenizer

    reference = Tekkenizer.from_file(str(importlib.resources.files("mistral_common") / "data" / TEKKEN_FILE))
    markdown, _ = make_long_markdown()
    text = markdown[:5000] + " English text, code `x = f(y)`, числа 2024-03-01, <s> [INST] 🚀"
    ids = reference.encode(text, bos=False, eos=False)
    assert tekken_encoding().encode_ordinary(text) == [i - reference.num_special_tokens for i in ids]
    assert reference.n_words == 131072  # Mistral-Nemo's vocabulary


def test_ten_megabyte_single_line_parses_and_chunks() -> None:
    rng = random.Random(7)
    sentence_words = [rng.choice(_WORDS) for _ in range(700_000)]
    line = " ".join(sentence_words)
    line = ". ".join(line[i : i + 300] for i in range(0, len(line), 300))
    data = line.encode()[: 10 * 1024 * 1024]
    data = data[: data.rfind(b" ")]
    assert len(data) > 9_900_000
    assert b"\n" not in data

    chunks = parse_chunks_tokens(data, "line.txt", max_tokens=DEFAULT_CHUNK_TOKENS)

    assert len(chunks) > 1000
    sample = random.Random(8).sample(chunks, 200)
    assert all(count_tokens(c.text) <= DEFAULT_CHUNK_TOKENS for c in sample)
    text = data.decode()
    assert chunks[0].text.startswith(text[:50])
    assert chunks[-1].text.endswith(text[-50:])
