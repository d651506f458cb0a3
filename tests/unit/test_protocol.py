"""The grounded protocol's messages and pass 1's parser, as the model needs them."""

from __future__ import annotations

import json

import pytest

from bot.domain import Turn
from bot.rag.protocol import (
    SYSTEM_PROMPT,
    answer_messages,
    grounded_messages,
    keep_known_ids,
    parse_relevant_ids,
    strip_echoed_ids,
)

# Copied from ../shared/design/vikhr-protocol.md: one changed byte degrades the model's grounding.
PROTOCOL_SYSTEM_PROMPT = (
    "Your task is to answer the user's questions using only the information from the provided documents. "
    "Give two answers to each question: one with a list of relevant document identifiers and the second "
    "with the answer to the question itself, using documents with these identifiers."
)


def test_system_prompt_is_verbatim() -> None:
    assert SYSTEM_PROMPT == PROTOCOL_SYSTEM_PROMPT


def test_messages_follow_the_protocol_order_and_keep_cyrillic_raw() -> None:
    docs = [{"doc_id": 0, "title": "Возврат", "content": "Срок возврата — 14 дней."}]
    history = [Turn("user", "Привет"), Turn("assistant", "Здравствуйте")]
    messages = grounded_messages(docs, history, "Какой срок возврата?")
    assert [m["role"] for m in messages] == ["system", "documents", "user", "assistant", "user"]
    assert messages[1]["content"] == json.dumps(docs, ensure_ascii=False)
    assert "Срок возврата" in messages[1]["content"]  # not \\u-escaped
    assert messages[-1] == {"role": "user", "content": "Какой срок возврата?"}


def test_pass_two_repeats_pass_one_exactly() -> None:
    first = grounded_messages([{"doc_id": 0, "title": None, "content": "x"}], [], "q")
    second = answer_messages(first, '{"relevant_doc_ids": [0]}')
    assert second[:-1] == first
    assert second[-1] == {"role": "assistant", "content": '{"relevant_doc_ids": [0]}'}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"relevant_doc_ids": [0, 2]}', [0, 2]),
        ('{"relevant_doc_ids": []}', []),
        ('Relevant: ```json\n{"relevant_doc_ids": [1]}\n```', [1]),
        ("relevant_doc_ids: [3, 4]", [3, 4]),
        ("[5]", [5]),
        ('{"relevant_doc_ids": ["2", 1]}', [2, 1]),
        ('{"relevant_doc_ids": [1, 2, 3', [1, 2, 3]),  # cut off by max_tokens
        ("I don't know", None),
    ],
)
def test_pass_one_parser_tolerates_unstructured_backends(text: str, expected: list[int] | None) -> None:
    assert parse_relevant_ids(text) == expected


def test_invented_and_repeated_ids_are_dropped() -> None:
    assert keep_known_ids([2, 9, 2, 0, -1], known=[0, 1, 2]) == [2, 0]


def test_an_echoed_pass_one_is_stripped_from_the_answer() -> None:
    pass1 = '{"relevant_doc_ids": [0]}'
    assert strip_echoed_ids(pass1 + "\n\nСрок — 14 дней.", pass1) == "Срок — 14 дней."
    assert strip_echoed_ids("Срок — 14 дней.", pass1) == "Срок — 14 дней."
