"""Every setting the bot reads is documented in .env.example, and nothing there is unknown."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import Settings, load_settings

ENV_EXAMPLE = Path(__file__).resolve().parents[2] / ".env.example"
# Read by docker compose (profile choice, the scale profile's domain for Caddy), not by the bot.
COMPOSE_ONLY = {"COMPOSE_PROFILES", "WEBHOOK_DOMAIN"}


def test_env_example_documents_every_setting() -> None:
    names = {
        line.split("=", 1)[0]
        for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    }
    assert names - COMPOSE_ONLY == {field.upper() for field in Settings.model_fields}


def test_a_copied_env_example_loads_with_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text(ENV_EXAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    settings = load_settings()
    assert settings.bot_token is None
    assert settings.embedding_model_path is None
    assert settings.redis_url == ""
    assert settings.qdrant_api_key is None
    assert settings.admin_ids == frozenset()
