"""Vikhr-Nemo's grounded RAG protocol: the exact messages of both passes and pass 1's parser.

See ../shared/design/vikhr-protocol.md. The system prompt is the one the model was trained with for
RAG mode; changing one byte of it degrades grounding, so it is a constant, not a setting.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from bot.domain import Turn

SYSTEM_PROMPT = (
    "Your task is to answer the user's questions using only the information from the provided "
    "documents. Give two answers to each question: one with a list of relevant document identifiers "
    "and the second with the answer to the question itself, using documents with these identifiers."
)


def relevant_ids_schema(doc_ids: Sequence[int]) -> dict[str, Any]:
    """Pass 1's JSON schema. The enum and maxItems keep guided decoding to the ids actually sent:
    a small model on an open integer array was seen counting 1, 2, 3… until max_tokens cut it off."""
    return {
        "type": "object",
        "properties": {
            "relevant_doc_ids": {
                "type": "array",
                "items": {"type": "integer", "enum": list(doc_ids)},
                "maxItems": len(doc_ids),
            }
        },
        "required": ["relevant_doc_ids"],
        "additionalProperties": False,
    }


Message = dict[str, str]


def grounded_messages(
    documents: Sequence[dict[str, Any]], history: Sequence[Turn], question: str
) -> list[Message]:
    """Pass 1's messages. Pass 2 appends one assistant message to this very list."""
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        # ensure_ascii=False: the model saw raw Cyrillic in training, and \\u escapes cost 6x tokens.
        {"role": "documents", "content": json.dumps(list(documents), ensure_ascii=False)},
        *({"role": turn.role, "content": turn.for_model()} for turn in history),
        {"role": "user", "content": question},
    ]


def answer_messages(pass1_messages: Sequence[Message], pass1_text: str) -> list[Message]:
    # The prefix must stay byte-identical so vLLM's prefix cache serves pass 2's prefill.
    return [*pass1_messages, {"role": "assistant", "content": pass1_text}]


# The closing bracket is optional: a reply cut off by max_tokens still names the ids it got to.
_IDS_KEY_RE = re.compile(r'"?relevant_doc_ids"?\s*[:=]\s*\[([^\]]*)\]?')
_BARE_LIST_RE = re.compile(r"\[\s*(-?\d+(?:\s*,\s*-?\d+)*)?\s*\]")


# A document id is a small index; a longer digit run is noise (and int() refuses > 4,300 digits).
_MAX_ID_DIGITS = 9


def parse_relevant_ids(text: str) -> list[int] | None:
    """Pass 1's ids from strict JSON, or from JSON wrapped in prose or code fences.

    Returns None when nothing id-like is found at all.
    """
    stripped = text.strip()
    try:
        data = json.loads(stripped)
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("relevant_doc_ids"), list):
        return _ints(data["relevant_doc_ids"])
    if isinstance(data, list):
        return _ints(data)
    match = _IDS_KEY_RE.search(stripped) or _BARE_LIST_RE.search(stripped)
    if match is None:
        return None
    return [int(n) for n in re.findall(r"-?\d+", match.group(1) or "") if len(n) <= _MAX_ID_DIGITS]


def _ints(values: list[Any]) -> list[int]:
    out = []
    for value in values:
        if isinstance(value, bool):
            continue
        if isinstance(value, int):
            out.append(value)
        elif isinstance(value, str) and value.strip().lstrip("-").isdigit() and len(value) <= _MAX_ID_DIGITS:
            out.append(int(value))
    return out


def strip_echoed_ids(answer: str, pass1_text: str) -> str:
    """Some servers (llama.cpp's default "prefill assistant") continue the final assistant message
    instead of opening a new turn, so pass 2's text starts with pass 1's JSON: drop that echo."""
    stripped, echo = answer.lstrip(), pass1_text.strip()
    return stripped[len(echo) :].lstrip() if echo and stripped.startswith(echo) else answer


def keep_known_ids(ids: Sequence[int], known: Sequence[int]) -> list[int]:
    """Drops ids the model invented and repeats, keeping the model's order."""
    allowed = set(known)
    seen: set[int] = set()
    out = []
    for doc_id in ids:
        if doc_id in allowed and doc_id not in seen:
            seen.add(doc_id)
            out.append(doc_id)
    return out


# Issue 11: a question in the other language than the documents is also searched translated. A plain
# chat call (no documents role), so the grounded RAG system prompt above must not be used; the model
# card's general mode takes any system prompt, and Vikhr follows instructions given there best.
TRANSLATION_PROMPTS = {
    "ru": (
        "You translate search queries into Russian. Translate the user's message into Russian. Keep "
        "names, numbers and codes. Reply with the translation only, without quotes or explanations."
    ),
    "en": (
        "You translate search queries into English. Translate the user's message into English. Keep "
        "names, numbers and codes. Reply with the translation only, without quotes or explanations."
    ),
}


def translation_messages(question: str, target: str) -> list[Message]:
    """The translation call's messages: [system, user]; `target` is "ru" or "en" (KeyError otherwise)."""
    return [
        {"role": "system", "content": TRANSLATION_PROMPTS[target]},
        {"role": "user", "content": question},
    ]
