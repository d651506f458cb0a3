"""The chat template shipped for vLLM renders the grounded conversation the way the model was trained."""

from __future__ import annotations

from pathlib import Path

from jinja2.sandbox import ImmutableSandboxedEnvironment

from bot.rag.protocol import answer_messages, grounded_messages

TEMPLATE = Path(__file__).resolve().parents[2] / "deploy" / "vikhr-nemo-chat-template.jinja"


def _render(messages: list[dict[str, str]]) -> str:
    # The same Jinja settings transformers and vLLM use for chat templates.
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    template = env.from_string(TEMPLATE.read_text(encoding="utf-8"))
    return template.render(messages=messages, bos_token="<s>", add_generation_prompt=True)


def test_documents_role_becomes_its_own_header() -> None:
    docs = [{"doc_id": 0, "title": "Возврат", "content": "14 дней"}]
    prompt = _render(grounded_messages(docs, [], "Срок?"))
    assert prompt.startswith("<s><|start_header_id|>system<|end_header_id|>\n\nYour task is")
    assert '<|start_header_id|>documents<|end_header_id|>\n\n[{"doc_id": 0, "title": "Возврат"' in prompt
    assert prompt.endswith(
        "<|start_header_id|>user<|end_header_id|>\n\nСрок?</s>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    )


def test_pass_one_prompt_is_a_prefix_of_pass_two() -> None:
    # This is what lets vLLM's prefix cache serve pass 2's prefill almost for free.
    messages = grounded_messages([{"doc_id": 0, "title": None, "content": "x"}], [], "q")
    pass1 = _render(messages)
    pass2 = _render(answer_messages(messages, '{"relevant_doc_ids": [0]}'))
    assert pass2.startswith(pass1 + '{"relevant_doc_ids": [0]}</s>')
