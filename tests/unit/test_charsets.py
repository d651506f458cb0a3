"""Short legacy Cyrillic texts decode as Russian, whatever code page they were saved in (issue 11)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.ingest.document import decode_text
from bot.ingest.parsing import parse_document

CASES = Path(__file__).resolve().parents[2].parent / "shared" / "cases"

NOTE = "Памятка кладовщика. Код ключ-кои-3107 ставится на ящики с хрупким товаром.\n"
LONG = (
    "Приёмка товара на склад начинается с проверки накладной: кладовщик сверяет количество мест, "
    "целостность упаковки и маркировку. Если найдено расхождение, составляется акт в двух экземплярах, "
    "один из которых передаётся водителю. Хрупкий товар хранится на нижних ярусах стеллажей, а "
    "продукты с коротким сроком годности - ближе к зоне отгрузки. Инвентаризация проводится раз в "
    "квартал; её результаты утверждает заведующий складом. Пропуск на территорию выдаёт охрана по "
    "заявке, поданной не позднее чем за сутки. Вопросы по графику отгрузок решает диспетчер смены."
)
SINGLE_BYTE = ["koi8_r", "cp1251", "cp866", "mac_cyrillic"]
# With a byte-order mark where the encoding has one, and without it.
UNICODE = ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32"]


def _prefix(text: str, encoding: str, size: int) -> tuple[bytes, str]:
    """The longest whole-character prefix of ``text`` at most ``size`` bytes long, and its text."""
    data = b""
    for end in range(1, len(text) + 1):
        candidate = text[:end].encode(encoding)
        if len(candidate) > size:
            break
        data = candidate
    return data, data.decode(encoding)


@pytest.mark.parametrize("size", [20, 75, 500])
@pytest.mark.parametrize("encoding", SINGLE_BYTE + UNICODE)
def test_short_russian_text_decodes_in_every_encoding(encoding: str, size: int) -> None:
    for text in (NOTE, LONG):
        data, expected = _prefix(text, encoding, size)
        assert decode_text(data) == expected.lstrip("\ufeff"), (encoding, size, data)


def test_the_koi8r_note_from_the_cases_reads_as_russian() -> None:
    doc = parse_document((CASES / "d03a_koi8r.txt").read_bytes(), "d03a_koi8r.txt")
    assert "ключ-кои-3107" in doc.text
    assert doc.text.startswith("Памятка кладовщика.")


@pytest.mark.parametrize("encoding", SINGLE_BYTE)
@pytest.mark.parametrize("declared", [True, False])
def test_html_in_a_cyrillic_code_page_with_and_without_meta_charset(encoding: str, declared: bool) -> None:
    meta = f'<meta charset="{encoding.replace("_", "-")}">' if declared else ""
    html = f"<html><head>{meta}<title>Памятка</title></head><body><p>{NOTE}</p></body></html>"
    doc = parse_document(html.encode(encoding), "note.html")
    assert NOTE.strip() in doc.text


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        ("日本語のテキストです。倉庫の受け入れ手順を説明します。", "shift_jis"),
        ("中文文本测试，这是仓库的收货流程说明。", "gbk"),
        ("Grüße aus München, schöne Straße", "cp1252"),
    ],
)
def test_text_that_is_not_russian_is_not_taken_for_russian(text: str, encoding: str) -> None:
    assert decode_text(text.encode(encoding)) == text
