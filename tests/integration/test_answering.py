"""The whole answering pipeline on real parts: ingestion → retrieval → two grounded passes."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from bot.app import Services
from bot.domain import GLOBAL_SCOPE, chat_scope
from tests.support.corpus import OUT_OF_DOMAIN_EN, OUT_OF_DOMAIN_RU, RETURNS_MD, VPN_MD
from tests.support.llm_server import SYSTEM_PROMPT, GroundedLLMServer


async def _ingest_corpus(services: Services) -> None:
    await services.ingestion.ingest(RETURNS_MD.encode(), "returns.md", scope=GLOBAL_SCOPE, uploaded_by=1)
    await services.ingestion.ingest(VPN_MD.encode(), "vpn.md", scope=GLOBAL_SCOPE, uploaded_by=1)


async def test_russian_question_gets_a_cited_answer(
    services: Services, llm_server: GroundedLLMServer
) -> None:
    await _ingest_corpus(services)
    answer = await services.answering.answer("Какой срок возврата для электроники?", chat_id=5)
    assert answer.found
    assert answer.language == "ru"
    assert "7 дней" in answer.text or "14 дней" in answer.text
    assert answer.citations
    assert answer.citations[0].title == "Правила возврата"
    assert answer.citations[0].file_name == "returns.md"
    assert [c.number for c in answer.citations] == list(range(1, len(answer.citations) + 1))
    # Both passes went out, pass 2 on pass 1's exact prefix (the server checks every byte).
    assert len(llm_server.pass1_requests) == 1
    assert len(llm_server.pass2_requests) == 1
    assert llm_server.pass1_requests[0]["messages"][0]["content"] == SYSTEM_PROMPT
    # The model sees only title and content: the title carries the section path, once.
    titles = {d["title"] for d in json.loads(llm_server.pass1_requests[0]["messages"][1]["content"])}
    assert "Правила возврата › Сроки" in titles
    # Each pass carried the configured key, as a vLLM started with --api-key demands.
    assert llm_server.bearer_tokens == ["test", "test"]


async def test_english_question_finds_an_exact_error_code(services: Services) -> None:
    await _ingest_corpus(services)
    answer = await services.answering.answer("What does error ERR-4512 mean?", chat_id=5)
    assert answer.found
    assert answer.language == "en"
    assert "certificate" in answer.text
    assert {c.file_name for c in answer.citations} == {"vpn.md"}


async def test_out_of_domain_questions_are_not_answered(
    services: Services, llm_server: GroundedLLMServer
) -> None:
    await _ingest_corpus(services)
    for question in (OUT_OF_DOMAIN_RU, OUT_OF_DOMAIN_EN):
        answer = await services.answering.answer(question, chat_id=5)
        assert not answer.found
        assert answer.citations == []
        assert answer.text == ""
    assert llm_server.pass2_requests == []  # "nothing relevant" costs one short call, not two


async def test_an_empty_knowledge_base_makes_no_llm_call(
    services: Services, llm_server: GroundedLLMServer
) -> None:
    answer = await services.answering.answer("Какой срок возврата?", chat_id=5)
    assert not answer.found
    assert llm_server.requests == []


async def test_ids_the_model_invents_are_dropped(services: Services, llm_server: GroundedLLMServer) -> None:
    await _ingest_corpus(services)
    llm_server.structured_outputs = False  # with guided decoding the schema's enum already forbids them
    llm_server.choose_ids = lambda question, docs: [99, 0, 0]
    answer = await services.answering.answer("Какой срок возврата?", chat_id=5)
    assert answer.relevant_ids == [0]
    assert len(answer.citations) == 1


async def test_backends_without_structured_outputs_still_work(
    services: Services, llm_server: GroundedLLMServer
) -> None:
    await _ingest_corpus(services)
    llm_server.structured_outputs = False  # pass 1 comes back as prose around a JSON block
    answer = await services.answering.answer("Какие документы нужны для возврата?", chat_id=5)
    assert answer.found
    assert "чек" in answer.text


async def test_follow_ups_carry_the_conversation(services: Services, llm_server: GroundedLLMServer) -> None:
    await _ingest_corpus(services)
    await services.answering.answer("Какой срок возврата?", chat_id=5)
    await services.answering.answer("Какие документы нужны для возврата?", chat_id=5)
    last = llm_server.pass1_requests[-1]["messages"]
    roles = [m["role"] for m in last]
    assert roles == ["system", "documents", "user", "assistant", "user"]
    assert last[2]["content"] == "Какой срок возврата?"
    assert "documents" not in last[3]["content"]  # history holds answers, never the documents JSON
    await services.answering.forget(5)
    await services.answering.answer("Какой срок возврата?", chat_id=5)
    assert [m["role"] for m in llm_server.pass1_requests[-1]["messages"]] == ["system", "documents", "user"]


async def test_a_chat_never_sees_another_chats_documents(
    services: Services, llm_server: GroundedLLMServer
) -> None:
    await services.ingestion.ingest(RETURNS_MD.encode(), "returns.md", scope=chat_scope(-100), uploaded_by=1)
    answer = await services.answering.answer("Какой срок возврата?", chat_id=-200)
    assert not answer.found
    assert llm_server.requests == []
    answer = await services.answering.answer("Какой срок возврата?", chat_id=-100)
    assert answer.found


async def test_same_content_is_not_indexed_twice(services: Services) -> None:
    first = await services.ingestion.ingest(
        RETURNS_MD.encode(), "returns.md", scope=GLOBAL_SCOPE, uploaded_by=1
    )
    again = await services.ingestion.ingest(RETURNS_MD.encode(), "copy.md", scope=GLOBAL_SCOPE, uploaded_by=2)
    assert not first.already_indexed
    assert again.already_indexed
    assert again.document.doc_id == first.document.doc_id
    assert len(await services.ingestion.documents([GLOBAL_SCOPE])) == 1


async def test_guided_decoding_is_limited_to_the_ids_sent(
    services: Services, llm_server: GroundedLLMServer
) -> None:
    await _ingest_corpus(services)
    llm_server.choose_ids = lambda question, docs: [99, 0]
    answer = await services.answering.answer("Какой срок возврата?", chat_id=5)
    schema = llm_server.pass1_requests[-1]["response_format"]["json_schema"]["schema"]
    ids = schema["properties"]["relevant_doc_ids"]
    assert ids["items"]["enum"] == [d["doc_id"] for d in answer.documents]
    assert ids["maxItems"] == len(answer.documents)
    assert answer.relevant_ids == [0]


async def test_a_server_that_continues_the_ids_message_does_not_leak_json(
    services: Services, llm_server: GroundedLLMServer
) -> None:
    await _ingest_corpus(services)
    llm_server.prefill_assistant = True  # llama.cpp's default behaviour
    answer = await services.answering.answer("Какой срок возврата?", chat_id=5)
    assert answer.found
    assert answer.text.startswith("**Ответ.**")
    assert "relevant_doc_ids" not in answer.text


async def test_the_model_server_check_warns_with_url_and_model_and_retries_until_it_is_right(
    services: Services, llm_server: GroundedLLMServer, caplog: pytest.LogCaptureFixture
) -> None:
    wanted = llm_server.model
    llm_server.model = "someone/other-model-7b"  # the server answers, but with another model
    with caplog.at_level(logging.INFO, logger="bot.rag.answering"):
        watch = asyncio.create_task(services.answering.watch_model_server(every_s=0.05))
        for _ in range(100):
            if len(caplog.records) >= 2:  # warned, and checked again: it keeps retrying
                break
            await asyncio.sleep(0.02)
        assert not watch.done()  # never blocks the caller: it runs beside the bot
        warning = caplog.records[0].getMessage()
        assert llm_server.base_url in warning
        assert wanted in warning
        assert "someone/other-model-7b" in warning
        llm_server.model = wanted
        await asyncio.wait_for(watch, 5)
    assert "is up" in caplog.records[-1].getMessage()
