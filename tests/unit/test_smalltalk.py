"""Small talk is recognised without the model, and no real question is ever taken for it."""

from __future__ import annotations

import json

import pytest

from bot.helpdesk.smalltalk import SmallTalk, classify
from tests.conftest import REPO_ROOT

XQUAD = REPO_ROOT.parent / "shared" / "eval" / "xquad"


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("Привет!", SmallTalk.GREETING),
        ("Здравствуйте", SmallTalk.GREETING),
        ("Добрый день, коллеги", SmallTalk.GREETING),
        ("Доброе утро!", SmallTalk.GREETING),
        ("hi there", SmallTalk.GREETING),
        ("Good morning!", SmallTalk.GREETING),
        ("Спасибо большое!", SmallTalk.THANKS),
        ("спасибо, бот", SmallTalk.THANKS),
        ("Thanks a lot 🙏", SmallTalk.THANKS),
        ("Пока!", SmallTalk.GOODBYE),
        ("ок, понятно", SmallTalk.ACKNOWLEDGEMENT),
        ("👍", SmallTalk.ACKNOWLEDGEMENT),
        ("Кто ты?", SmallTalk.ABOUT),
        ("What can you do?", SmallTalk.ABOUT),
    ],
)
def test_greetings_thanks_and_the_like_are_small_talk(text: str, kind: SmallTalk) -> None:
    assert classify(text) == kind


def test_the_bots_own_name_does_not_turn_thanks_into_a_question() -> None:
    assert classify("спасибо, Помощник", frozenset({"помощник", "kb_helper_bot"})) == SmallTalk.THANKS
    assert classify("thanks kb_helper_bot", frozenset({"kb_helper_bot"})) == SmallTalk.THANKS
    assert classify("спасибо, Помощник") is None


@pytest.mark.parametrize(
    "text",
    [
        "Привет, как вернуть товар?",
        "Спасибо, а какой срок гарантии?",
        "hi, what does ERR-4512 mean?",
        "ok 4512",
        "Кто ты по должности, если работаешь на складе?",
        "?",
    ],
)
def test_questions_that_start_politely_are_still_questions(text: str) -> None:
    assert classify(text) is None


def test_no_xquad_question_is_taken_for_small_talk() -> None:
    questions = [
        qa["question"]
        for language in ("ru", "en")
        for article in json.loads((XQUAD / f"xquad.{language}.json").read_text("utf-8"))["data"]
        for paragraph in article["paragraphs"]
        for qa in paragraph["qas"]
    ]
    assert len(questions) == 2380
    assert [q for q in questions if classify(q) is not None] == []
