"""Command line: `python -m bot run | migrate | backup | restore | ingest | ask | docs | refresh | bench`."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bot.config import ConfigError, Settings, load_settings
from bot.logging_setup import Redactor, secrets_of
from bot.telemetry.logs import configure_logging

EXIT_CONFIG = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kb-bot", description="Telegram knowledge-base bot (Vikhr-Nemo)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="run the bot (long polling or webhook: TELEGRAM_MODE)")
    sub.add_parser("worker", help="run an ingestion worker: takes upload jobs from the Redis queue")
    sub.add_parser("migrate", help="create or upgrade the Qdrant schema")
    backup = sub.add_parser("backup", help="save the knowledge base and chat settings/feedback to a folder")
    backup.add_argument("folder", type=Path)
    restore = sub.add_parser("restore", help="restore a backup folder into an empty store")
    restore.add_argument("folder", type=Path)

    ingest = sub.add_parser("ingest", help="add files, folders (recursively) or web pages (URLs)")
    ingest.add_argument("paths", nargs="+", help="files, folders, or http(s):// addresses")
    ingest.add_argument("--chat", type=int, default=None, help="a chat's own base (default: global)")

    ask = sub.add_parser("ask", help="answer a question without Telegram")
    ask.add_argument("question")
    ask.add_argument("--chat", type=int, default=None, help="answer as this chat (its base + history)")
    ask.add_argument("--json", action="store_true", help="print documents, ids, answer and citations")

    bench = sub.add_parser("bench", help="benchmarks (run from the repository)")
    bench_sub = bench.add_subparsers(dest="bench_command", required=True)
    bench_retrieval = bench_sub.add_parser(
        "retrieval", help="recall@k, MRR and latency on XQuAD: dense vs sparse vs hybrid", add_help=False
    )
    bench_retrieval.add_argument("options", nargs=argparse.REMAINDER, help="see `bench retrieval --help`")

    refresh = sub.add_parser("refresh", help="re-check the web pages in the knowledge base now")
    refresh.add_argument("--chat", type=int, default=None, help="only this chat's pages (default: all)")

    docs = sub.add_parser("docs", help="list or delete documents")
    docs_sub = docs.add_subparsers(dest="docs_command", required=True)
    docs_list = docs_sub.add_parser("list")
    docs_list.add_argument("--chat", type=int, default=None)
    docs_delete = docs_sub.add_parser("delete")
    docs_delete.add_argument("doc_id")
    docs_delete.add_argument("--chat", type=int, default=None)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # The benchmark parses its own options (argparse's REMAINDER cannot start with an option).
    if argv[:2] == ["bench", "retrieval"]:
        return _bench(argv[2:])
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
        configure_logging(settings.log_level, settings.log_format, Redactor(secrets_of(settings)))
        # Fail fast, before the heavy imports, model loading and schema work below.
        if args.command in ("run", "worker"):
            settings.require_bot_token()
        if args.command in ("run", "ask"):
            settings.require_llm_base_url()
        from bot.domain import LLMUnavailableError, RedisUnreachableError, TelegramUnreachableError
        from bot.storage.migrator import SchemaError

        try:
            return _run_loop(settings)(_dispatch(args, settings))
        except SchemaError as exc:
            print(f"Schema error: {exc}", file=sys.stderr)
            return EXIT_CONFIG
        except LLMUnavailableError as exc:
            print(f"The model at LLM_BASE_URL={settings.llm_base_url} did not answer: {exc}", file=sys.stderr)
            return 1
        except (TelegramUnreachableError, RedisUnreachableError) as exc:
            print(f"Network error: {exc}", file=sys.stderr)
            return 1
    except ConfigError as exc:
        print(f"Configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return 130


def _run_loop(settings: Settings) -> Callable[[Coroutine[Any, Any, int]], int]:
    """`asyncio.run`, on uvloop's event loop when EVENT_LOOP=uvloop (the default where it is installed).

    uvloop (libuv, written in Cython) schedules callbacks and moves bytes with far less Python per
    event: at 30 questions/s the stock loop's own bookkeeping was a visible share of the event-loop
    thread's CPU (`bench.load`, README "Load").
    """
    if settings.event_loop == "uvloop":
        try:
            import uvloop
        except ImportError:
            pass
        else:
            return uvloop.run
    return asyncio.run


def _bench(bench_args: list[str]) -> int:
    # The benchmarks live in the repository's bench/ package, not in the installed bot.
    try:
        from bench import retrieval
    except ImportError:
        print("bench/ is not importable: run `python -m bot bench ...` from the repository root.")
        return EXIT_CONFIG
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a missing local model fails at once
    return retrieval.main(bench_args)


async def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    # Imported here so that `--help` and configuration errors answer instantly.
    from bot import cli

    if args.command == "run":
        await cli.run_bot(settings)
        return 0
    if args.command == "worker":
        await cli.run_worker(settings)
        return 0
    if args.command == "migrate":
        applied = await cli.migrate(settings)
        print("\n".join(f"Applied: {step}" for step in applied) if applied else "Schema is up to date.")
        return 0
    if args.command == "backup":
        await cli.backup(settings, args.folder)
        return 0
    if args.command == "restore":
        await cli.restore(settings, args.folder)
        return 0
    if args.command == "ingest":
        return await cli.ingest(settings, args.paths, args.chat)
    if args.command == "refresh":
        return await cli.refresh(settings, args.chat)
    if args.command == "ask":
        answer = await cli.ask(settings, args.question, args.chat)
        if args.json:
            payload = asdict(answer)
            payload["answer"] = payload.pop("text")
            print(json.dumps(payload, ensure_ascii=False, indent=2))
        else:
            print(cli.format_answer_text(answer))
        return 0
    if args.docs_command == "list":
        await cli.list_docs(settings, args.chat)
        return 0
    return 0 if await cli.delete_doc(settings, args.doc_id, args.chat) else 1


if __name__ == "__main__":
    sys.exit(main())
