"""Answers as Telegram shows them now (issue 10), through the real polling loop and the fake servers:
streamed drafts with a stop button, rich messages with references and sources, the classic fallback,
ephemeral notices in groups, the failing cases from ../shared/cases, and a loop that never stalls."""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import ADMIN_ID, USER_ID
from tests.e2e.conftest import BotStarter
from tests.support.corpus import RETURNS_MD
from tests.support.llm_server import GroundedLLMServer
from tests.support.rich_blocks import objects_in
from tests.support.shared_data import CASES_DIR
from tests.support.telegram_server import ANSWER_METHODS, FakeTelegramServer, RecordedRequest

GROUP = -1001000000077
JSON = dict[str, Any]


async def _add_returns_policy(tg: FakeTelegramServer) -> None:
    tg.add_file("f-returns", RETURNS_MD.encode(), "returns.md")
    tg.push_message(
        chat_id=ADMIN_ID, user_id=ADMIN_ID, document=tg.document_for("f-returns"), language_code="ru"
    )
    await tg.wait_for(
        "editMessageText",
        lambda r: r.chat_id == ADMIN_ID and "returns.md" in (r.text or "") and "⏳" not in (r.text or ""),
    )


def _ask(tg: FakeTelegramServer, chat_id: int, text: str, user_id: int = USER_ID) -> JSON:
    message: JSON = tg.push_message(chat_id=chat_id, user_id=user_id, text=text, language_code="ru")[
        "message"
    ]
    return message


def _drafts(tg: FakeTelegramServer, chat_id: int) -> list[RecordedRequest]:
    return [r for r in tg.calls("sendRichMessageDraft") if r.chat_id == chat_id]


LONG_ANSWER = (
    "**Ответ.** Покупатель может вернуть товар надлежащего качества в течение 14 дней после покупки.\n\n"
    "Для возврата нужен чек и паспорт покупателя. Возврат денег занимает до 10 рабочих дней.\n\n"
    "| товар | срок |\n|---|---|\n| обычный | 14 дней |\n| электроника | 7 дней |\n\n"
    "Подробности — на [странице магазина](https://shop.example/returns_(ru)) и [тут](https://evil.example/login)."
)


async def test_a_private_answer_streams_as_drafts_then_arrives_rich_with_references_and_sources(
    start_bot: BotStarter, telegram_server: FakeTelegramServer, llm_server: GroundedLLMServer
) -> None:
    tg = telegram_server
    llm_server.answer_text = LONG_ANSWER
    llm_server.first_token_s = 0.3
    llm_server.tokens_per_s = 40
    async with start_bot(stream_interval_ms=400):
        await _add_returns_policy(tg)
        question = _ask(tg, USER_ID, "Какой срок возврата и какие документы нужны?")
        final = await tg.wait_for("sendRichMessage", lambda r: r.chat_id == USER_ID)
        drafts = _drafts(tg, USER_ID)
        # The answer was visible while it was written: several animated updates of one draft, with stop.
        assert len(drafts) >= 3
        assert {d.int_param("draft_id") for d in drafts} == {drafts[0].int_param("draft_id")}
        assert all(str(d.params.get("can_stop")).lower() == "true" for d in drafts)
        gaps = [b.at - a.at for a, b in itertools.pairwise(drafts)]
        assert min(gaps) >= 0.35  # never more often than STREAM_INTERVAL_MS
        assert all(d.at < final.at for d in drafts)
        # The final message: rich, replying to the question, references after the paragraphs they
        # come from, one source (two sections of one file), and the 👍/👎 buttons.
        html = final.text or ""
        assert final.params["reply_parameters"]["message_id"] == question["message_id"]
        assert "после покупки. [1]</p>" in html
        assert "<table><tr><th>товар</th><th>срок</th></tr>" in html
        assert "<li><b>Правила возврата</b> — Сроки; Документы</li>" in html
        # Links: not in the documents, so neither one is clickable (an invented or planted address).
        assert "<a " not in html
        assert "странице магазина" in html
        assert "evil.example" not in html
        buttons = [b["text"] for row in final.params["reply_markup"]["inline_keyboard"] for b in row]
        assert buttons == ["👍", "👎"]
        assert llm_server.streams_finished == 1
        # Native references: the drafts were HTML, the final message is blocks, and each mark is a link
        # that opens the source line it is numbered after, in this very message.
        assert all("html" in d.params["rich_message"] for d in drafts)
        blocks = final.params["rich_message"]["blocks"]
        objects = objects_in(blocks)
        links = [o for o in objects if o.get("type") == "reference_link"]
        references = {o["name"]: o for o in objects if o.get("type") == "reference"}
        assert links
        for link in links:
            assert link["text"] == "[1]"
            assert "Правила возврата" in json.dumps(references[link["reference_name"]], ensure_ascii=False)
        assert blocks[0]["type"] == "paragraph"
        assert blocks[0]["text"][-1] in links  # the link ends the paragraph it supports
        assert "после покупки. [1]" in final.visible_text
    assert llm_server.violations == []


async def test_refused_blocks_arrive_as_the_rich_html_message(
    start_bot: BotStarter, telegram_server: FakeTelegramServer, llm_server: GroundedLLMServer
) -> None:
    tg = telegram_server
    async with start_bot():
        await _add_returns_policy(tg)
        tg.refuse_blocks_next()
        _ask(tg, USER_ID, "Какие документы нужны для возврата?")
        final = await tg.wait_for("sendRichMessage", lambda r: r.chat_id == USER_ID)
        [refused] = [r for r in tg.calls("sendRichMessage", include_failed=True) if r.failed]
        assert "blocks" in refused.params["rich_message"]
        # The same answer as one rich HTML message: the marks as text, the sources under it, the buttons.
        html = final.params["rich_message"]["html"]
        assert "после покупки. [1]</p>" in html
        assert "<h4>Источники</h4>" in html
        assert final.params["reply_markup"]["inline_keyboard"][0][0]["text"] == "👍"
        assert not [m for m in tg.sent_messages(USER_ID) if "14 дней" in m.visible_text]
    assert llm_server.violations == []


async def test_stop_closes_the_model_stream_and_keeps_the_partial_answer(
    start_bot: BotStarter, telegram_server: FakeTelegramServer, llm_server: GroundedLLMServer
) -> None:
    tg = telegram_server
    llm_server.answer_text = LONG_ANSWER * 4
    llm_server.tokens_per_s = 15  # slow enough to press stop in the middle
    async with start_bot(stream_interval_ms=200, llm_max_tokens=40_000):  # the whole ~70 KB answer
        await _add_returns_policy(tg)
        _ask(tg, USER_ID, "Какой срок возврата?")
        first = await tg.wait_for("sendRichMessageDraft", lambda r: r.chat_id == USER_ID)
        await asyncio.sleep(1.0)
        tg.push_stop(USER_ID, first.int_param("draft_id") or 0)
        final = await tg.wait_for("sendRichMessage", lambda r: r.chat_id == USER_ID)
        html = final.text or ""
        assert "Покупатель может вернуть" in html  # what was written so far is kept
        assert "Остановлено" in html  # and marked as stopped
        assert len(final.visible_text) < len(LONG_ANSWER * 4)
        assert "Правила возврата" in html  # with the sources it cited so far
        # No draft after the stop; the model's stream was closed (vLLM aborts such a request).
        assert all(d.at < final.at for d in _drafts(tg, USER_ID))
        for _ in range(50):
            if llm_server.streams_aborted:
                break
            await asyncio.sleep(0.1)
        assert llm_server.streams_aborted == 1
        assert llm_server.streams_finished == 0
    assert llm_server.violations == []


async def test_a_refused_draft_leaves_the_stream_quiet_and_the_answer_comes_at_once(
    start_bot: BotStarter, telegram_server: FakeTelegramServer, llm_server: GroundedLLMServer
) -> None:
    tg = telegram_server
    llm_server.answer_text = LONG_ANSWER
    llm_server.tokens_per_s = 40
    async with start_bot(stream_interval_ms=200):
        await _add_returns_policy(tg)
        tg.fail_next(
            "sendRichMessageDraft",
            error_code=400,
            description="Bad Request: RICH_MESSAGE_TOO_LONG",
            retry_after=None,
        )
        _ask(tg, USER_ID, "Какой срок возврата?")
        # The stream stops after the refusal, and the final answer still comes (it used to wait forever).
        final = await tg.wait_for("sendRichMessage", lambda r: r.chat_id == USER_ID)
        assert "14 дней" in final.visible_text
        drafts = tg.calls("sendRichMessageDraft", include_failed=True)
        assert len(drafts) == 1
        assert drafts[0].failed
    assert llm_server.violations == []


async def test_without_rich_messages_answers_go_out_as_classic_html_and_the_bot_remembers(
    start_bot: BotStarter, telegram_server: FakeTelegramServer, llm_server: GroundedLLMServer
) -> None:
    tg = telegram_server
    # An older self-hosted telegram-bot-api: sendRichMessage and its drafts are unknown methods.
    tg.rich_messages = False
    async with start_bot():
        await _add_returns_policy(tg)
        _ask(tg, USER_ID, "Какой срок возврата?")
        first = await tg.wait_for(
            "sendMessage", lambda r: r.chat_id == USER_ID and "14 дней" in r.visible_text
        )
        assert str(first.params["parse_mode"]).lower() == "html"
        assert "<b>Источники</b>" in (first.text or "")
        assert "[1]" in first.visible_text
        _ask(tg, USER_ID, "Какие документы нужны для возврата?")
        await tg.wait_for("sendMessage", lambda r: r.chat_id == USER_ID and "паспорт" in r.visible_text)
    # Rich messages were tried once in this process, then no more; drafts fell back to classic ones.
    assert (
        len(tg.calls("sendRichMessage", include_failed=True))
        + len(tg.calls("sendRichMessageDraft", include_failed=True))
        == 1
    )
    assert tg.calls("sendMessageDraft")
    assert llm_server.violations == []


async def test_a_rich_message_refused_for_its_content_goes_out_as_classic_html(
    start_bot: BotStarter, telegram_server: FakeTelegramServer, llm_server: GroundedLLMServer
) -> None:
    tg = telegram_server
    async with start_bot():
        await _add_returns_policy(tg)
        # Both rich forms refused: the blocks with native references, then the same as rich HTML.
        tg.fail_next(
            "sendRichMessage",
            error_code=400,
            description="Bad Request: can't parse rich message",
            retry_after=None,
            times=2,
        )
        _ask(tg, USER_ID, "Какой срок возврата?")
        classic = await tg.wait_for(
            "sendMessage", lambda r: r.chat_id == USER_ID and "14 дней" in r.visible_text
        )
        assert classic.params["reply_markup"]["inline_keyboard"][0][0]["text"] == "👍"
        # A refusal of one message's content is not a refusal of rich messages: the next answer is rich.
        _ask(tg, USER_ID, "Какие документы нужны для возврата?")
        await tg.wait_for("sendRichMessage", lambda r: r.chat_id == USER_ID and "паспорт" in r.visible_text)
    assert llm_server.violations == []


@pytest.mark.parametrize("ephemeral", [True, False])
async def test_group_notices_reach_only_the_asker(
    start_bot: BotStarter, telegram_server: FakeTelegramServer, llm_server: GroundedLLMServer, ephemeral: bool
) -> None:
    tg = telegram_server
    tg.ephemeral_messages = ephemeral  # False: a server that refuses them; a normal reply instead
    tg.add_group(GROUP)
    llm_server.delay_s = 0.5
    # No waiting line for the rate (USER_QUEUE_MAX=0) and the model-line notice at once: both notices show.
    async with start_bot(
        user_question_rate="2/minute", llm_max_concurrency=1, user_queue_max=0, llm_queue_notice_after_s=0
    ):
        await _add_returns_policy(tg)
        first = _ask(tg, GROUP, "/ask Какой срок возврата?", user_id=USER_ID)
        second = _ask(tg, GROUP, "/ask Какие документы нужны для возврата?", user_id=2002)
        _ask(tg, GROUP, "/ask", user_id=2003)
        answers = [await tg.wait_for(ANSWER_METHODS, _answer_to(m)) for m in (first, second)]
        assert "14 дней" in answers[0].visible_text
        notices = [
            r for r in tg.calls("sendMessage") if r.chat_id == GROUP and "Источники" not in r.visible_text
        ]
        texts = [n.visible_text for n in notices]
        assert any("очереди" in t for t in texts)  # the second asker waited and was told so, once
        assert sum("очереди" in t for t in texts) == 1
        assert any("/ask" in t for t in texts)  # the usage hint
        if ephemeral:
            receivers = {n.params["ephemeral_message_parameters"]["receiver_user_id"] for n in notices}
            assert receivers == {2002, 2003}
            # The "in line" notice is removed when the answer comes; the usage hint stays.
            assert tg.ephemeral_messages_for(GROUP, 2002) == []
            assert tg.calls("deleteEphemeralMessage")
        else:
            assert all("ephemeral_message_parameters" not in n.params for n in notices)
        # Over the rate limit: the "please wait" notice, again only for the asker.
        for _ in range(2):
            _ask(tg, GROUP, "/ask Ещё вопрос про возврат?", user_id=USER_ID)
        wait = await tg.wait_for(
            "sendMessage", lambda r: r.chat_id == GROUP and "снова через" in r.visible_text.lower()
        )
        if ephemeral:
            assert wait.params["ephemeral_message_parameters"]["receiver_user_id"] == USER_ID
    assert llm_server.violations == []


def _answer_to(message: JSON) -> Callable[[RecordedRequest], bool]:
    return lambda r: _replies_to(r, message) and "Источники" in r.visible_text


def _replies_to(request: RecordedRequest, message: JSON) -> bool:
    reply = request.params.get("reply_parameters")
    return (
        request.chat_id == message["chat"]["id"]
        and isinstance(reply, dict)
        and (reply.get("message_id") == message["message_id"])
    )


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("r01_redos_brackets.md", ["[[0, 1], [1, 2],", "[23, 24]]."]),
        (
            "r03_literal_tags_in_prose.md",
            ["<blockquote>", '<span class="tg-spoiler">', "</span>", "<br>", "<li>"],
        ),
        ("r08_cyrillic_snake_case.md", ["имя_клиента и номер_договора", "отчёт_за_май.xlsx"]),
    ],
)
async def test_the_failing_cases_arrive_as_written(
    start_bot: BotStarter,
    telegram_server: FakeTelegramServer,
    llm_server: GroundedLLMServer,
    case: str,
    expected: list[str],
) -> None:
    tg = telegram_server
    llm_server.answer_text = (CASES_DIR / case).read_text(encoding="utf-8")
    async with start_bot():
        await _add_returns_policy(tg)
        _ask(tg, USER_ID, "Какой срок возврата?")
        final = await tg.wait_for("sendRichMessage", lambda r: r.chat_id == USER_ID)
        for text in expected:
            assert text in final.visible_text
        assert "<i>" not in (final.text or "")
    assert llm_server.violations == []


async def test_a_slow_to_render_answer_never_holds_up_another_chat(
    start_bot: BotStarter, telegram_server: FakeTelegramServer, llm_server: GroundedLLMServer
) -> None:
    tg = telegram_server
    other_chat = 2005
    # ~60 KB of the bracket shape that froze the old converter, plus nested emphasis: seconds of CPU
    # for a regex converter, and two rich messages' worth of text.
    pairs = 3000
    llm_server.answer_text = ", ".join(f"*[{i}* {i + 1}]" for i in range(pairs)) + " **_" * 2000
    async with start_bot(stream_interval_ms=200, llm_max_tokens=40_000):  # the whole ~60 KB answer
        await _add_returns_policy(tg)
        question = _ask(tg, USER_ID, "Какой срок возврата?")
        await tg.wait_for("sendRichMessageDraft", lambda r: r.chat_id == USER_ID)
        tg.push_message(chat_id=other_chat, user_id=other_chat, text="/start", language_code="ru")
        greeting = await tg.wait_for("sendMessage", lambda r: r.chat_id == other_chat)
        first = await tg.wait_for("sendRichMessage", lambda r: r.chat_id == USER_ID, timeout=60)
        # /start was answered while the long answer was still being streamed and rendered.
        assert greeting.at < first.at
        # The whole answer arrives, in order, in rich messages within Telegram's limit: the first
        # quotes the question, the last carries the sources and the buttons.
        last = await tg.wait_for(
            "sendRichMessage", lambda r: r.chat_id == USER_ID and "Источники" in r.visible_text, timeout=60
        )
        parts = [r for r in tg.calls("sendRichMessage") if r.chat_id == USER_ID]
        assert len(parts) >= 2
        assert parts[0] is first
        assert parts[-1] is last
        assert all(len(p.visible_text) <= 32_768 for p in parts)
        assert first.params["reply_parameters"]["message_id"] == question["message_id"]
        assert "reply_markup" in last.params
        assert all("reply_markup" not in p.params for p in parts[:-1])
        text = "".join(p.visible_text for p in parts)
        answer = text[: text.index("Источники")]
        expected = [n for i in range(pairs) for n in (i, i + 1)]
        assert [int(n) for n in re.findall(r"\d+", answer.split("**_")[0])] == expected
        assert answer.count("**_") == 2000  # literal: emphasis that never closes stays as written
    assert llm_server.violations == []


@pytest.mark.parametrize(
    "answer",
    [
        "Все пункты:\n\n" + "\n".join(f"- пункт {i}: срок возврата 14 дней" for i in range(300)),
        "| пункт | срок |\n|---|---|\n" + "\n".join(f"| пункт {i}. | 14 дней |" for i in range(600)),
    ],
    ids=["a 300-item list", "a 600-row table"],
)
async def test_an_answer_of_more_than_500_blocks_arrives_as_rich_messages_not_classic_html(
    start_bot: BotStarter, telegram_server: FakeTelegramServer, llm_server: GroundedLLMServer, answer: str
) -> None:
    tg = telegram_server
    llm_server.answer_text = answer
    async with start_bot(llm_max_tokens=40_000):
        await _add_returns_policy(tg)
        question = _ask(tg, USER_ID, "Перечисли все пункты возврата")
        last = await tg.wait_for(
            "sendRichMessage", lambda r: r.chat_id == USER_ID and "Источники" in r.visible_text, timeout=60
        )
        # Telegram's 500-block limit (list items, their paragraphs and table rows count): the answer is
        # cut between items into several rich messages, every one accepted; nothing went out classic.
        tried = [r for r in tg.calls("sendRichMessage", include_failed=True) if r.chat_id == USER_ID]
        assert not [r for r in tried if r.failed]
        assert not [m for m in tg.calls("sendMessage") if m.chat_id == USER_ID and "пункт" in m.visible_text]
        parts = [r for r in tg.calls("sendRichMessage") if r.chat_id == USER_ID]
        assert len(parts) >= 2
        assert parts[-1] is last
        assert parts[0].params["reply_parameters"]["message_id"] == question["message_id"]
        assert "reply_markup" in last.params
        assert all("reply_markup" not in p.params for p in parts[:-1])
        # Every item arrives once, in order.
        text = "".join(p.visible_text for p in parts)
        numbers = [int(n) for n in re.findall(r"пункт (\d+)", text)]
        assert numbers == list(range(300 if "- пункт" in answer else 600))
    assert llm_server.violations == []
