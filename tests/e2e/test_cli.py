"""`python -m bot` as an operator runs it: migrate, ingest a folder, ask with --json, manage documents."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from bot.storage.chunks.edge import EdgeCollection
from tests.conftest import MODEL_NAME, REPO_ROOT, free_port, model_path
from tests.support.corpus import RETURNS_MD, VPN_MD
from tests.support.llm_server import GroundedLLMServer


@dataclass(frozen=True)
class CliResult:
    returncode: int
    stdout: str
    stderr: str


async def _cli(workdir: Path, env: dict[str, str], *args: str) -> CliResult:
    # Async, so the test's own LLM server keeps serving while the CLI talks to it.
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        cwd=workdir,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT), **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 180)
    assert process.returncode is not None
    return CliResult(process.returncode, out.decode(), err.decode())


def _env(tmp_path: Path, redis_url: str, llm: GroundedLLMServer) -> dict[str, str]:
    path = model_path()
    return {
        "REDIS_URL": redis_url,
        "QDRANT_PATH": str(tmp_path / "qdrant"),
        "LLM_BASE_URL": llm.base_url,
        "EMBEDDING_MODEL": MODEL_NAME,
        "EMBEDDING_MODEL_PATH": str(path) if path else "",
        "HF_HUB_OFFLINE": "1",
        "LOG_LEVEL": "WARNING",
    }


async def test_ingest_a_folder_then_ask_with_json(
    tmp_path: Path, redis_url: str, llm_server: GroundedLLMServer
) -> None:
    env = _env(tmp_path, redis_url, llm_server)
    docs = tmp_path / "kb"
    (docs / "en").mkdir(parents=True)
    (docs / "returns.md").write_text(RETURNS_MD, encoding="utf-8")
    (docs / "en" / "vpn.md").write_text(VPN_MD, encoding="utf-8")
    (docs / "en" / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")

    # A fresh data folder needs no `migrate`: `ingest` creates the schema itself.
    assert not (tmp_path / "qdrant").exists()
    ingest = await _cli(tmp_path, env, "ingest", str(docs))
    assert ingest.returncode == 1, ingest.stderr  # one broken file is reported, the rest is indexed
    again = await _cli(tmp_path, env, "migrate")
    assert "up to date" in again.stdout
    # The folder is read recursively; the summary table has one row per file, then the totals.
    rows = {line.split()[1].rsplit("/", 1)[-1]: line.split()[0] for line in ingest.stdout.splitlines()[1:-1]}
    assert rows == {"returns.md": "INDEXED", "vpn.md": "INDEXED", "broken.pdf": "FAILED"}
    assert "3 files: 2 indexed, 0 already indexed, 1 failed; 4 chunks" in ingest.stdout
    assert "EXISTS" in (await _cli(tmp_path, env, "ingest", str(docs / "returns.md"))).stdout

    ru = await _cli(tmp_path, env, "ask", "--json", "Какой срок возврата для электроники?")
    assert ru.returncode == 0, ru.stderr
    result = json.loads(ru.stdout)
    assert result["found"] is True
    assert result["language"] == "ru"
    assert result["relevant_ids"]
    assert {d["doc_id"] for d in result["documents"]} >= set(result["relevant_ids"])
    assert result["citations"][0]["file_name"] == "returns.md"
    assert "дней" in result["answer"]

    en = json.loads((await _cli(tmp_path, env, "ask", "--json", "What does error ERR-4512 mean?")).stdout)
    assert en["found"] is True
    assert en["citations"][0]["file_name"] == "vpn.md"

    listing = await _cli(tmp_path, env, "docs", "list")
    doc_ids = [line.split()[0] for line in listing.stdout.splitlines()[1:]]
    assert len(doc_ids) == 2
    assert (await _cli(tmp_path, env, "docs", "delete", doc_ids[0])).returncode == 0
    again = await _cli(tmp_path, env, "docs", "delete", doc_ids[0])
    assert again.returncode == 1
    assert "--chat ID" in again.stdout  # says where it looked and where else to look, no "scope"
    assert "scope" not in again.stdout
    assert len((await _cli(tmp_path, env, "docs", "list")).stdout.splitlines()) == 2


async def test_embedded_qdrant_in_use_gives_a_clear_message(
    tmp_path: Path, redis_url: str, llm_server: GroundedLLMServer
) -> None:
    env = _env(tmp_path, redis_url, llm_server)
    assert (await _cli(tmp_path, env, "migrate")).returncode == 0
    # Stands in for a running bot: Edge locks its write-ahead log while a process has it open.
    holder = await EdgeCollection.open(tmp_path / "qdrant" / "edge", "kb_chunks", "dense")
    try:
        result = await _cli(tmp_path, env, "docs", "list")
    finally:
        await holder.close()
    assert result.returncode == 2
    assert "QDRANT_PATH" in result.stderr
    assert "QDRANT_URL" in result.stderr


async def test_ask_with_the_model_down_says_so_in_one_line(
    tmp_path: Path, redis_url: str, llm_server: GroundedLLMServer
) -> None:
    env = _env(tmp_path, redis_url, llm_server)
    (tmp_path / "returns.md").write_text(RETURNS_MD, encoding="utf-8")
    assert (await _cli(tmp_path, env, "migrate")).returncode == 0
    assert (await _cli(tmp_path, env, "ingest", str(tmp_path / "returns.md"))).returncode == 0
    down = {**env, "LLM_BASE_URL": f"http://127.0.0.1:{free_port()}/v1", "LLM_TIMEOUT_S": "2"}
    result = await _cli(tmp_path, down, "ask", "Какой срок возврата?")
    assert result.returncode == 1
    assert "did not answer" in result.stderr
    assert "Traceback" not in result.stderr
