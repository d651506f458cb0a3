"""What the model is shown (merging, duplicates, the token budget) and how follow-ups are searched."""

from __future__ import annotations

from bot.domain import StoredChunk, Turn
from bot.rag.context import CHARS_PER_TOKEN, ContextBudget, assemble_context, merge_texts
from bot.rag.retrieval import follow_up_query


def _chunk(doc: str, index: int, text: str, section: str | None = "S", score: float = 1.0) -> StoredChunk:
    return StoredChunk(doc, index, f"Doc {doc}", f"{doc}.md", None, section, text, score)


def _words(prefix: str, n: int) -> str:
    return " ".join(f"{prefix}{i}" for i in range(n))


def test_neighbouring_chunks_of_a_section_become_one_document_with_the_overlap_said_once() -> None:
    first = "Покупатель может вернуть товар в течение 14 дней. Для электроники срок возврата 7 дней."
    second = "Для электроники срок возврата 7 дней. Нужен чек и паспорт."
    chunks = [_chunk("a", 1, second, score=0.9), _chunk("b", 0, "Другая тема."), _chunk("a", 0, first)]
    shown = assemble_context(chunks, ContextBudget())
    assert [c.doc_id for c in shown] == ["a", "b"]  # in the order of their best chunk
    assert shown[0].text == first + " Нужен чек и паспорт."
    assert shown[0].chunk_index == 0
    assert shown[0].score == 1.0


def test_chunks_of_other_sections_or_far_apart_stay_separate() -> None:
    chunks = [
        _chunk("a", 0, "one two three"),
        _chunk("a", 2, "seven eight nine"),
        _chunk("a", 1, "x y z", "T"),
    ]
    assert len(assemble_context(chunks, ContextBudget())) == 3
    assert merge_texts(["no overlap here", "at all"]) == "no overlap here\n\nat all"


def test_near_duplicates_are_dropped() -> None:
    text = _words("w", 60)
    chunks = [
        _chunk("a", 0, text),
        _chunk("copy", 0, text + " and a tail"),  # the same text uploaded again in another file
        _chunk("c", 0, _words("v", 60)),
    ]
    assert [c.doc_id for c in assemble_context(chunks, ContextBudget())] == ["a", "c"]


def test_documents_stop_at_the_token_budget_and_the_count_limit() -> None:
    budget = ContextBudget(max_documents=6, max_tokens=1000, document_max_chars=4000)
    size = int(budget.max_tokens * CHARS_PER_TOKEN) // 3 + 10  # two fit, a third does not
    chunks = [_chunk(str(i), 0, f"{i} " + "я" * size) for i in range(5)]
    shown = assemble_context(chunks, budget)
    assert [c.doc_id for c in shown] == ["0", "1"]
    assert sum(len(c.text) for c in shown) <= budget.max_chars
    many = [_chunk(str(i), 0, _words(f"d{i}x", 5)) for i in range(10)]
    assert len(assemble_context(many, ContextBudget(max_documents=3))) == 3


def test_the_best_document_is_shown_even_over_budget_and_merges_respect_the_document_limit() -> None:
    tiny = ContextBudget(max_documents=6, max_tokens=10, document_max_chars=4000)
    assert [c.doc_id for c in assemble_context([_chunk("big", 0, "я" * 500)], tiny)] == ["big"]
    capped = ContextBudget(document_max_chars=150)
    shown = assemble_context([_chunk("a", 0, _words("p", 30)), _chunk("a", 1, _words("q", 30))], capped)
    assert [c.text for c in shown] == [_words("p", 30)]  # merging would exceed 150 characters


def test_a_short_follow_up_is_searched_with_the_question_it_follows() -> None:
    history = [
        Turn("user", "Сколько дней есть на возврат товара в магазин?"),
        Turn("assistant", "14 дней."),
    ]
    query = follow_up_query("а для электроники?", history, max_words=6)
    assert query.context == "Сколько дней есть на возврат товара в магазин?"
    assert query.text == "Сколько дней есть на возврат товара в магазин?\nа для электроники?"


def test_in_groups_the_asker_s_name_never_enters_the_search() -> None:
    history = [Turn("user", "Сколько дней есть на возврат товара в магазин?", speaker="Анна Петрова")]
    query = follow_up_query("а для электроники?", history, max_words=6)
    assert query.context == "Сколько дней есть на возврат товара в магазин?"
    assert "Петрова" not in query.text


def test_follow_ups_chain_back_to_the_last_self_contained_question_only() -> None:
    history = [
        Turn("user", "How do I set up the office VPN on my laptop?"),
        Turn("assistant", "..."),
        Turn("user", "What does error ERR-4512 mean when connecting?"),
        Turn("assistant", "..."),
        Turn("user", "and on Linux?"),
        Turn("assistant", "..."),
    ]
    query = follow_up_query("what about macOS?", history, max_words=6)
    assert query.context == "What does error ERR-4512 mean when connecting?\nand on Linux?"


def test_a_long_question_or_an_empty_history_stands_alone() -> None:
    history = [Turn("user", "Сколько дней на возврат?"), Turn("assistant", "14 дней.")]
    long_question = "Какие документы нужны, чтобы вернуть деньги за купленный в кредит телефон?"
    assert follow_up_query(long_question, history, max_words=6).context == ""
    assert follow_up_query("а для электроники?", [], max_words=6).text == "а для электроники?"
    assert follow_up_query("а для электроники?", history, max_words=0).context == ""
