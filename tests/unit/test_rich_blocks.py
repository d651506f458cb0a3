"""Native references: an answer's rich HTML as Bot API blocks, where "[1]" after a paragraph is a link
to the source it names in the same message, and everything else reads exactly as the HTML form does.

Every conversion here is checked the way Telegram would check it (`tests.support.rich_blocks`: known
types, required fields, each link resolving to a reference of the same message, the limits).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiogram.methods import SendRichMessage
from aiogram.types import InputRichMessage
from aiogram.types.input_rich_block_union import InputRichBlockUnion
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.delivery.blocks import reference_blocks, rich_blocks
from bot.delivery.outbox import Delivery, dump_delivery, load_delivery
from bot.delivery.parts import answer_parts
from bot.delivery.target import Target
from bot.render.answer import AnswerChunk, SourceLabels, SourceLine, render_answer
from bot.render.links import LinkPolicy
from tests.support.rich_blocks import BlocksError, BlocksView, objects_in, read_blocks
from tests.support.telegram_server import validate_rich_html

LABELS = SourceLabels(heading="Источники", page="стр.")
SOURCES = [SourceLine(1, "Правила возврата", sections=("Сроки",)), SourceLine(2, "Доставка", pages=(3,))]
JSON = dict[str, Any]


def _dumped(blocks: list[InputRichBlockUnion]) -> list[JSON]:
    """The blocks as aiogram sends them (JSON, every field with a value)."""
    message = InputRichMessage(blocks=blocks).model_dump(mode="json", exclude_none=True)
    dumped: list[JSON] = message["blocks"]
    return dumped


def _only_chunk(markdown: str, sources: list[SourceLine] = SOURCES) -> AnswerChunk:
    [chunk] = render_answer(
        markdown, sources, LABELS, policy=LinkPolicy.from_documents(["https://shop.example/a"])
    ).chunks
    return chunk


def _converted(chunk: AnswerChunk) -> tuple[list[JSON], BlocksView]:
    blocks = rich_blocks(chunk.rich, chunk.sources)
    assert blocks is not None, chunk.rich
    dumped = _dumped(blocks)
    return dumped, read_blocks(dumped)  # raises as Telegram's 400 would


def _of_type(dumped: list[JSON], kind: str) -> list[JSON]:
    return [o for o in objects_in(dumped) if o.get("type") == kind]


def _flat(text: str) -> str:
    return "".join(text.split())


def _same_html(blocks_html: str, rich_html: str) -> bool:
    """The same HTML, but for line breaks: a `<br>` and a line end in the text are both "\n" in blocks."""

    def norm(markup: str) -> str:
        return markup.replace("<br>", "").replace("\n", "")

    return norm(blocks_html) == norm(rich_html)


def test_marks_become_links_that_resolve_to_the_listed_sources() -> None:
    chunk = _only_chunk(
        "Вернуть товар можно в течение 14 дней. \\[1\\]\\[2\\]\n\n"
        "- Нужен чек. \\[2\\]\n\n> Так сказано в правилах. \\[1\\]"
    )
    dumped, view = _converted(chunk)
    links = _of_type(dumped, "reference_link")
    references = {r["name"]: r for r in _of_type(dumped, "reference")}
    assert [link["text"] for link in links] == ["[1]", "[2]", "[2]", "[1]"]
    assert {link["reference_name"] for link in links} == set(references)
    # The reference is the source line itself, numbered as the marks are.
    source_of = {link["text"]: references[link["reference_name"]] for link in links}
    assert "Правила возврата" in json.dumps(source_of["[1]"], ensure_ascii=False)
    assert "стр. 3" in json.dumps(source_of["[2]"], ensure_ascii=False)
    # The link ends the paragraph it supports; the words before it are unchanged.
    [first] = [b for b in dumped if b["type"] == "paragraph"][:1]
    assert first["text"][0] == "Вернуть товар можно в течение 14 дней. "
    assert [item["value"] for item in dumped[-1]["items"]] == [1, 2]
    assert view.visible.index("14 дней. [1][2]") < view.visible.index("Правила возврата")


def test_a_literal_bracket_number_without_such_a_source_stays_text() -> None:
    chunk = _only_chunk("См. пункт [3]\n\nИ пункт [2] в середине.\n\nЭтот абзац из правил. \\[1\\]")
    dumped, view = _converted(chunk)
    assert [link["text"] for link in _of_type(dumped, "reference_link")] == ["[1]"]
    assert "См. пункт [3]" in view.visible
    assert "И пункт [2] в середине." in view.visible  # not at a paragraph's end: the model's own text


def test_marks_only_link_where_the_message_lists_its_sources() -> None:
    # A chunk whose source list is in a later message: nothing to link, so the HTML form is used.
    chunk = _only_chunk("Абзац. \\[1\\]", sources=[])
    assert chunk.sources == ()
    assert reference_blocks(chunk.rich, chunk.sources) is None
    # A mark with a number the list does not have keeps the whole run as text.
    dumped, view = _converted(_only_chunk("Абзац. [1][7]"))
    assert _of_type(dumped, "reference_link") == []
    assert "Абзац. [1][7]" in view.visible


def test_headings_lists_tables_code_quotes_and_links_come_through_as_written() -> None:
    markdown = (
        "## Возврат\n\nТекст с **жирным _курсивом_**, ~~зачёркнутым~~ и `кодом` и "
        "[ссылкой](https://shop.example/a). \\[1\\]\n\n"
        "1. первый\n2. второй\n   - вложенный \\[2\\]\n\nПотом:\n\n5. пятый\n6. шестой\n\n"
        "> цитата\n\n| товар | срок |\n|---|---|\n| обычный | 14 дней |\n\n"
        "```python\nx = 1 < 2\nprint(x)\n```\n\n---\n\nстрока один  \nстрока два"
    )
    chunk = _only_chunk(markdown)
    dumped, view = _converted(chunk)
    kinds = [b["type"] for b in dumped]
    assert kinds == ["heading", "paragraph", "list", "paragraph", "list", "blockquote", "table", "pre",
                     "divider", "paragraph", "heading", "list"]  # fmt: skip
    assert dumped[0] == {"type": "heading", "text": "Возврат", "size": 2}
    assert {"type": "url", "text": "ссылкой", "url": "https://shop.example/a"} in objects_in(dumped)
    assert {"type": "code", "text": "кодом"} in objects_in(dumped)
    assert [i["value"] for i in dumped[4]["items"]] == [5, 6]  # an ordered list keeps its numbers
    assert dumped[6]["cells"][0][0] == {"align": "left", "valign": "top", "text": "товар", "is_header": True}
    assert dumped[7] == {"type": "pre", "text": "x = 1 < 2\nprint(x)", "language": "python"}
    assert dumped[9]["text"] == "строка один\nстрока два"
    # Written back as HTML, the blocks are the very rich HTML they came from.
    assert _same_html(view.html, chunk.rich)


def test_the_blocks_survive_the_outbox_round_trip() -> None:
    rendered = render_answer("Вернуть товар можно в течение 14 дней. \\[1\\]", SOURCES, LABELS)
    [part] = answer_parts(rendered, Target(chat_id=7, user_id=7, reply_to=3), rich=True)
    assert isinstance(part.primary, SendRichMessage)
    assert part.primary.rich_message.blocks is not None
    # Then the same rich message as HTML, then classic, then plain text.
    [[as_html], classic, plain] = part.fallbacks
    assert isinstance(as_html, SendRichMessage)
    assert as_html.rich_message.html == rendered.chunks[0].rich
    assert classic
    assert plain
    loaded = load_delivery(dump_delivery(Delivery(chat_id=7, parts=[part])))
    sent = loaded.parts[0].primary
    assert isinstance(sent, SendRichMessage)
    assert sent == part.primary
    read_blocks(_dumped(sent.rich_message.blocks or []))  # still links and references after a restart


def test_an_answer_without_references_keeps_its_html_form() -> None:
    rendered = render_answer("Ответ без ссылок.", SOURCES, LABELS)
    [part] = answer_parts(rendered, Target(chat_id=7, user_id=7), rich=True)
    assert isinstance(part.primary, SendRichMessage)
    assert part.primary.rich_message.html == rendered.chunks[0].rich
    assert len(part.fallbacks) == 2  # classic, plain


def test_unexpected_html_gives_none_not_an_error() -> None:
    for markup in ("<div>x</div>", "<p>x", "<p>x</b>", "<!-- c --><p>x</p>", "<ul>x</ul>", "<p><p>x</p></p>",
                   "<table><td>x</td></table>", "", "<p>x</p>\n<h4>S</h4><ol><li>a</li></ol>"):  # fmt: skip
        assert rich_blocks(markup, (1, 2)) is None, markup


def test_a_60_kb_adversarial_answer_converts() -> None:
    pairs = 3000
    markdown = ", ".join(f"*[{i}* {i + 1}]" for i in range(pairs)) + " **_" * 2000 + " \\[1\\]\n\n"
    markdown += (
        "[1]" * 5000 + " \\[2\\]\n\n" + "> " * 40 + "глубоко \\[1\\]\n\n" + "- " * 40 + "список \\[2\\]"
    )
    assert len(markdown.encode()) > 60_000
    rendered = render_answer(markdown, SOURCES, LABELS)
    for chunk in rendered.chunks:
        _, view = _converted(chunk)
        assert _flat(view.visible) == _flat(validate_rich_html(chunk.rich))
    last_links = _of_type(_converted(rendered.chunks[-1])[0], "reference_link")
    assert last_links  # the chunk that lists the sources links to them


_PIECES = st.sampled_from(
    ["*", "**", "_", "`", "```", "[", "]", "[1]", "[3]", " \\[1\\]", " \\[2\\]\\[1\\]", "<", ">", "&", "#",
     "## ", "- ", "1. ", "> ", "|", "|---|", "\n", "\n\n", "~~", "\\", "http://a.b/c_(d)", "<b>", "    ",
     "\t", "[x](https://shop.example/a)", "  \n"]
)  # fmt: skip
_WORDS = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(_PIECES, _WORDS), max_size=80))
def test_the_blocks_show_the_same_text_as_the_html(pieces: list[str]) -> None:
    rendered = render_answer("".join(pieces), SOURCES, LABELS)
    for chunk in rendered.chunks:
        try:
            _, view = _converted(chunk)
        except BlocksError as error:  # a 400 from Telegram
            pytest.fail(f"{error}: {chunk.rich!r}")
        assert _flat(view.visible) == _flat(validate_rich_html(chunk.rich))
        assert _same_html(view.html, chunk.rich)
