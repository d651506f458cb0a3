"""Property tests (hypothesis, issue 12): the pass-1 parser on any text, and the document parsers on
damaged files, end well: no exception but a clear DocumentError, within a time and memory bound.
Example counts are small so the suite stays fast; hypothesis keeps failing examples in its database."""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.ingest.document import DocumentError
from bot.ingest.parsing import parse_document
from bot.rag.protocol import keep_known_ids, parse_relevant_ids
from tests.support.documents import find_cyrillic_font, make_pdf
from tests.unit.test_formats import make_epub, make_pptx, make_xlsx
from tests.unit.test_parsing_chunking import make_docx

# Texts a model (or a server without guided decoding) might plausibly return, and arbitrary noise.
_id_lists = st.lists(st.integers(min_value=-(10**30), max_value=10**30), max_size=8)
_plausible = st.one_of(
    _id_lists.map(lambda ids: f'{{"relevant_doc_ids": {ids}}}'),
    _id_lists.map(lambda ids: f"Relevant documents: ```json\n{{'relevant_doc_ids': {ids}}}\n```"),
    _id_lists.map(str),
    st.text(alphabet='[]{}0123456789,:- "relevant_doc_ids', max_size=200),
    st.builds(lambda n: "[" + "9" * n + "]", st.integers(min_value=1, max_value=6000)),
)


@settings(max_examples=150, deadline=None)
@example(text="[" + "9" * 6000 + "]", sent=[0, 1])  # int() refuses more than 4,300 digits
@example(text='{"relevant_doc_ids": ["' + "7" * 5000 + '"]}', sent=[0])
@given(text=st.one_of(_plausible, st.text(max_size=300)), sent=st.lists(st.integers(0, 20), max_size=8))
def test_pass1_parser_never_raises_and_keeps_only_sent_ids(text: str, sent: list[int]) -> None:
    parsed = parse_relevant_ids(text)
    assert parsed is None or all(isinstance(i, int) for i in parsed)
    kept = keep_known_ids(parsed or [], sent)
    assert set(kept) <= set(sent)
    assert len(kept) == len(set(kept))


def _samples() -> dict[str, bytes]:
    font = find_cyrillic_font()
    return {
        "doc.pdf": make_pdf(font, ["Первая страница: правила возврата.", "Вторая страница."]),
        "doc.docx": make_docx(),
        "doc.pptx": make_pptx(),
        "doc.xlsx": make_xlsx(),
        "doc.epub": make_epub(),
        "doc.html": "<html><body><h1>Заголовок</h1><p>Текст статьи.</p></body></html>".encode(),
        "doc.md": "# Заголовок\n\nТекст раздела.\n".encode(),
        "doc.txt": "Просто текст в кодировке cp1251.".encode("cp1251"),
    }


SAMPLES = _samples()
TIME_BOUND_S = 10.0
MEMORY_BOUND_BYTES = 256 * 1024 * 1024


def _damaged(data: bytes) -> st.SearchStrategy[bytes]:
    truncated = st.integers(min_value=0, max_value=len(data)).map(lambda n: data[:n])

    def flip(positions: list[tuple[int, int]]) -> bytes:
        out = bytearray(data)
        for position, value in positions:
            out[position % len(out)] ^= value or 1
        return bytes(out)

    flipped = st.lists(st.tuples(st.integers(0, len(data) - 1), st.integers(0, 255)), min_size=1, max_size=16)
    return st.one_of(truncated, flipped.map(flip))


def _ends_well(parse: Callable[[], object]) -> None:
    tracemalloc.start()
    started = time.monotonic()
    refusal: DocumentError | None = None
    try:
        parse()
    except DocumentError as exc:
        refusal = exc
    finally:
        elapsed = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert refusal is None or str(refusal), "a refusal must say why"
    assert elapsed < TIME_BOUND_S
    assert peak < MEMORY_BOUND_BYTES


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_damaged_files_end_with_a_clear_error_in_bounded_time_and_memory(name: str) -> None:
    @settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(data=_damaged(SAMPLES[name]))
    def check(data: bytes) -> None:
        _ends_well(lambda: parse_document(data, name))

    check()
