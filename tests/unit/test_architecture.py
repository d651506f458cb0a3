"""Dependencies point one way: handlers → services → adapters. Handlers never touch an adapter."""

from __future__ import annotations

import ast
from pathlib import Path

BOT = Path(__file__).resolve().parents[2] / "bot"
ADAPTER_MODULES = (
    "redis",
    "qdrant_client",
    "qdrant_edge",
    "openai",
    "fastembed",
    "bot.storage",
    "bot.llm",
    "bot.embed",
)


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_handlers_reach_adapters_only_through_services() -> None:
    offenders = {
        f"{path.relative_to(BOT)}: {module}"
        for path in (BOT / "handlers").glob("*.py")
        for module in _imports(path)
        if module.startswith(ADAPTER_MODULES)
    }
    assert offenders == set()


def test_services_do_not_know_about_telegram() -> None:
    offenders = {
        f"{path.relative_to(BOT)}: {module}"
        for layer in ("rag", "ingest", "helpdesk", "storage", "llm", "embed", "render")
        for path in (BOT / layer).glob("*.py")
        for module in _imports(path)
        if module.startswith(("aiogram", "bot.handlers"))
    }
    assert offenders == set()
