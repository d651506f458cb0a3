"""Greetings, thanks and other messages that are not questions, recognised without the model.

A helpdesk that answers «Привет!» with "the knowledge base has no answer" reads like a broken
machine. These messages get a short reply that says what the bot can do: no search, no model call,
no rating buttons. The rule is deliberately strict, so a real question is never taken for small
talk: every word of the message must be a small-talk word (or the bot's own name), or the whole
message must be one of a few "who are you" phrases. Measured against XQuAD's 2,380 questions in
tests/unit/test_smalltalk.py: none is taken for small talk.
"""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum


class SmallTalk(StrEnum):
    GREETING = "greeting"
    THANKS = "thanks"
    GOODBYE = "goodbye"
    ACKNOWLEDGEMENT = "ack"
    ABOUT = "about"  # "who are you?", "what can you do?"


_GREETINGS = """
привет приветик приветствую здравствуй здравствуйте здрасте здрасьте хай хэй ку салют добрый доброе
доброго день утро вечер вечера дня утра ночи hello hi hey hiya howdy greetings morning afternoon
evening good yo
"""
_THANKS = """
спасибо спасибочки спс благодарю благодарим спасиб пасиб мерси thanks thank thx ty cheers appreciated
"""
_GOODBYES = "пока покеда досвидания свидания до встречи увидимся bye goodbye byebye cya later see you"
_ACKS = """
ок окей ok okay хорошо понятно ясно понял поняла поняли отлично супер класс круто ладно угу ага
good great cool nice fine понятненько got it sure alright perfect awesome
"""
# Words that may surround the ones above without turning the message into a question.
_FILLERS = """
всем вам тебе тебя бот бота ботик большое огромное очень еще ещё раз и а всё все же уважаемый уважаемые
коллеги друзья ребята so much very a lot all everyone there bot you guys dear again and the for help
"""
_ABOUT_PHRASES = {
    "кто ты",
    "ты кто",
    "что ты умеешь",
    "что ты можешь",
    "что умеешь",
    "как тобой пользоваться",
    "who are you",
    "what are you",
    "what can you do",
    "how do i use you",
    "how to use you",
}

_KIND_WORDS: dict[SmallTalk, frozenset[str]] = {
    SmallTalk.GREETING: frozenset(_GREETINGS.split()),
    SmallTalk.THANKS: frozenset(_THANKS.split()),
    SmallTalk.GOODBYE: frozenset(_GOODBYES.split()),
    SmallTalk.ACKNOWLEDGEMENT: frozenset(_ACKS.split()),
}
_FILLER_WORDS = frozenset(_FILLERS.split())
# Letters (any script) and digits; emoji and punctuation separate words and are otherwise ignored.
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_MAX_WORDS = 6


def classify(text: str, bot_names: frozenset[str] = frozenset()) -> SmallTalk | None:
    """The kind of small talk `text` is, or None when it may be a question for the knowledge base.

    `bot_names` are the bot's own names in lower case (its username, its first name): «Спасибо,
    бот!» and "thanks @kb_bot" are small talk too. Digits always make a message a question.
    """
    words = _words(text)
    if not words:
        # Only emoji ("👍", "🙏"): a reaction, not a question. Only punctuation: nothing to say.
        return SmallTalk.ACKNOWLEDGEMENT if any(_is_symbol(ch) for ch in text) else None
    if len(words) > _MAX_WORDS or any(w.isdigit() for w in words):
        return None
    names = {part for name in bot_names for part in _words(name)}
    if " ".join(words) in _ABOUT_PHRASES:
        return SmallTalk.ABOUT
    kinds = [kind for word in words for kind, vocabulary in _KIND_WORDS.items() if word in vocabulary]
    unknown = [
        w
        for w in words
        if w not in _FILLER_WORDS and w not in names and not any(w in v for v in _KIND_WORDS.values())
    ]
    if unknown or not kinds:
        return None
    # "Привет, спасибо!" — the first kind said sets the tone of the reply.
    return kinds[0]


def _words(text: str) -> list[str]:
    return [w.lower().replace("ё", "е") for w in _WORD.findall(text)]


def _is_symbol(ch: str) -> bool:
    # Emoji and pictographs are "So" (other symbol) in Unicode; punctuation and spaces are not.
    return unicodedata.category(ch) == "So"
