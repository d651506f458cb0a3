"""A bad setting stops the bot with one line naming the variable, exit code 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import ConfigError, load_settings

REPO_ROOT = Path(__file__).resolve().parents[2]


def _run_cli(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "ADMIN_", "LLM_", "QDRANT_"))}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=tmp_path,
        env={**clean, "PYTHONPATH": str(REPO_ROOT), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({}, "BOT_TOKEN"),
        ({"BOT_TOKEN": "not-a-token"}, "BOT_TOKEN"),
        ({"BOT_TOKEN": "123:abcdef", "ADMIN_IDS": "12,alice"}, "ADMIN_IDS"),
        ({"BOT_TOKEN": "123:abcdef", "LLM_BASE_URL": "localhost:8000"}, "LLM_BASE_URL"),
    ],
)
def test_run_refuses_bad_settings_with_one_clear_line(
    tmp_path: Path, env: dict[str, str], variable: str
) -> None:
    result = _run_cli(tmp_path, env, "run")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert variable in lines[0]


def test_settings_come_from_a_dotenv_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("ADMIN_IDS=1, 2,3\nLLM_TOP_K=35\n", encoding="utf-8")
    settings = load_settings()
    assert settings.admin_ids == {1, 2, 3}
    assert settings.llm_top_k == 35


def test_missing_embedding_folder_is_named() -> None:
    with pytest.raises(ConfigError, match="EMBEDDING_MODEL_PATH"):
        load_settings(embedding_model_path="/nonexistent/model")


def test_uploads_over_20_mb_need_a_self_hosted_bot_api() -> None:
    with pytest.raises(
        ConfigError, match=r"^MAX_UPLOAD_MB above 20 needs a self-hosted .* TELEGRAM_API_URL$"
    ):
        load_settings(max_upload_mb=200)
    assert (
        load_settings(max_upload_mb=200, telegram_api_url="http://bot-api:8081").max_upload_bytes == 200 << 20
    )


@pytest.mark.parametrize("rate", ["often", "0/minute", "5 per fortnight"])
def test_bad_rates_are_named(rate: str) -> None:
    with pytest.raises(ConfigError, match=r"^USER_QUESTION_RATE: must be a rate such as"):
        load_settings(user_question_rate=rate)
