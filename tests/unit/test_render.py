"""What the user sees: Telegram-safe HTML, readable sources, nothing cut at 4,096 characters."""

from __future__ import annotations

import re

from bot.render.telegram_html import (
    TELEGRAM_LIMIT,
    SourceLabels,
    SourceLine,
    answer_messages_html,
    html_to_plain,
    markdown_to_html,
)

LABELS = SourceLabels(heading="Источники", page="стр.")
ALLOWED_TAGS = {"b", "i", "u", "s", "code", "pre", "a", "blockquote", "tg-spoiler", "span"}


def test_markdown_becomes_telegram_html_with_special_characters_escaped() -> None:
    html = markdown_to_html("**Важно:** если `a < b` & c > d, см. [доки](https://example.com)")
    assert "<b>Важно:</b>" in html
    assert "<code>a &lt; b</code>" in html
    assert "&amp; c &gt; d" in html
    assert '<a href="https://example.com">доки</a>' in html


def test_sources_are_numbered_with_file_and_page() -> None:
    sources = [
        SourceLine(1, "Правила возврата", "returns.pdf", 3, None),
        SourceLine(2, "FAQ <beta>", "faq.md", None, "Доставка"),
    ]
    [message] = answer_messages_html("Ответ.", sources, LABELS)
    assert "<b>Источники</b>" in message
    assert "1. <b>Правила возврата</b> — returns.pdf, стр. 3" in message
    assert "2. <b>FAQ &lt;beta&gt;</b> — faq.md, Доставка" in message


def test_long_answers_split_on_paragraphs_with_every_word_kept() -> None:
    paragraphs = [f"Абзац {i}: " + "слово & <знак> " * 40 for i in range(40)]
    markdown = "\n\n".join(paragraphs)
    parts = answer_messages_html(markdown, [SourceLine(1, "Док", "d.txt", None, None)], LABELS)
    assert len(parts) > 1
    assert all(len(p) <= TELEGRAM_LIMIT for p in parts)
    for part in parts:
        tags = re.findall(r"</?([a-z-]+)", part)
        assert set(tags) <= ALLOWED_TAGS
        assert part.count("<b>") == part.count("</b>")  # no tag left open across messages
    text = html_to_plain("".join(parts))
    for i in range(40):
        assert f"Абзац {i}:" in text
    assert parts[-1].rstrip().endswith("d.txt")


def test_plain_fallback_has_the_words_without_markup() -> None:
    assert html_to_plain("<b>a &lt; b</b> &amp; <i>c</i>") == "a < b & c"
