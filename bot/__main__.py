"""Command line: `python -m bot run | migrate | ingest | ask | docs | bench`."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import asdict

from bot.config import ConfigError, Settings, load_settings

EXIT_CONFIG = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kb-bot", description="Telegram knowledge-base bot (Vikhr-Nemo)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="run the bot (long polling)")
    sub.add_parser("migrate", help="create or upgrade the Qdrant schema")

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
        logging.basicConfig(
            level=settings.log_level.upper(),
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
            stream=sys.stderr,
        )
        from bot.logging_setup import Redactor, install_redaction, secrets_of

        install_redaction(Redactor(secrets_of(settings)))  # issue 12: no secret in any log line
        if args.command == "run":
            settings.require_bot_token()  # fail fast, before the heavy imports below
        from bot.domain import LLMUnavailableError
        from bot.storage.migrator import SchemaError

        try:
            return asyncio.run(_dispatch(args, settings))
        except SchemaError as exc:
            print(f"Schema error: {exc}", file=sys.stderr)
            return EXIT_CONFIG
        except LLMUnavailableError as exc:
            print(f"The model at LLM_BASE_URL={settings.llm_base_url} did not answer: {exc}", file=sys.stderr)
            return 1
    except ConfigError as exc:
        print(f"Configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return 130


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
    if args.command == "migrate":
        applied = await cli.migrate(settings)
        print("Applied: " + ", ".join(applied) if applied else "Schema is up to date.")
        return 0
    if args.command == "ingest":
        return await cli.ingest(settings, args.paths, args.chat)
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
