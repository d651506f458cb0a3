"""One settings tree, read from the environment and `.env`, validated once at start."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

import limits
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

CLOUD_BOT_API_MAX_MB = 20
_TOKEN_RE = re.compile(r"^\d+:[\w-]{5,}$")


class ConfigError(Exception):
    """A setting is missing or invalid; the message names the variable."""


class Settings(BaseSettings):
    # Empty values mean "use the default", so a copied .env.example works as it is.
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", env_ignore_empty=True
    )

    bot_token: SecretStr | None = None
    telegram_api_url: str | None = None
    admin_ids: Annotated[frozenset[int], NoDecode] = frozenset()

    redis_url: str = ""
    redis_data_dir: Path = Path("data/redis")

    qdrant_url: str = ""
    qdrant_api_key: SecretStr | None = None
    qdrant_path: Path = Path("data/qdrant")
    qdrant_collection: str = "kb_chunks"

    llm_base_url: str = "http://localhost:8000/v1"
    llm_api_key: SecretStr = SecretStr("EMPTY")
    llm_model: str = "Vikhrmodels/Vikhr-Nemo-12B-Instruct-R-21-09-24"
    llm_temperature: float = Field(default=0.3, ge=0.0, le=1.0)
    llm_top_k: int = Field(default=40, ge=1, le=200)
    llm_max_tokens: int = Field(default=1024, ge=16)
    llm_timeout_s: float = Field(default=120.0, gt=0)
    llm_structured_outputs: bool = True

    embedding_model: str = "intfloat/multilingual-e5-small"
    embedding_model_path: Path | None = None

    retrieval_top_k: int = Field(default=6, ge=1, le=20)
    retrieval_fusion: Literal["dbsf", "rrf"] = "dbsf"
    followup_max_words: int = Field(default=6, ge=0, le=50)
    context_budget_tokens: int = Field(default=4000, ge=500, le=30000)
    document_max_chars: int = Field(default=4000, ge=500, le=16000)
    chunk_tokens: int = Field(default=384, ge=64, le=1024)
    max_upload_mb: int = Field(default=20, ge=1)
    max_question_chars: int = Field(default=2000, ge=50)
    # An upload job whose worker stopped reporting for this long is taken over by another worker.
    ingest_stale_after_s: int = Field(default=300, ge=0)
    upload_progress_interval_s: float = Field(default=3.0, ge=0)
    # /add_url may fetch intranet addresses (a wiki on 10.x) only when this is on; see README.
    url_allow_private_networks: bool = False

    history_turns: int = Field(default=6, ge=0, le=50)
    history_ttl_s: int = Field(default=7 * 24 * 3600, ge=60)
    history_budget_chars: int = Field(default=4000, ge=0)

    # Group helpdesk: abuse controls and flood control, as limits-library rate strings ("5/minute").
    user_question_rate: str = "5/minute"
    chat_question_rate: str = "30/minute"
    group_send_rate: str = "20/minute"
    llm_max_concurrency: int = Field(default=4, ge=1, le=256)
    admin_cache_ttl_s: int = Field(default=300, ge=0)
    feedback_retention_days: int = Field(default=90, ge=1)

    log_level: str = "INFO"

    # Issue 10: answers as rich messages, streamed, with links checked against the documents.
    stream_interval_ms: int = Field(default=400, ge=50, le=10_000)
    group_stream_interval_s: float = Field(default=3.0, ge=1.0, le=60.0)
    render_timeout_s: float = Field(default=2.0, gt=0, le=30)
    answer_links: bool = True
    rich_messages: bool = True

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _parse_admin_ids(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [p.strip() for p in value.split(",") if p.strip()]
            try:
                return frozenset(int(p) for p in parts)
            except ValueError:
                raise ValueError("must be comma-separated numeric Telegram user ids") from None
        if isinstance(value, int):
            return frozenset({value})
        return value

    @field_validator("user_question_rate", "chat_question_rate", "group_send_rate")
    @classmethod
    def _check_rate(cls, value: str) -> str:
        try:
            amount = limits.parse(value).amount
        except ValueError:
            amount = 0
        if amount < 1:
            raise ValueError('must be a rate such as "5/minute", "30 per hour" or "2/10 seconds"')
        return value

    @field_validator("bot_token")
    @classmethod
    def _check_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not _TOKEN_RE.match(value.get_secret_value()):
            raise ValueError("does not look like a bot token from @BotFather (digits:letters)")
        return value

    @field_validator("telegram_api_url", "llm_base_url", "redis_url", "qdrant_url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value and not re.match(r"^[a-z][a-z0-9+.-]*://", value):
            raise ValueError("must be a URL such as http://host:port")
        return value.rstrip("/") if value else value

    @field_validator("embedding_model_path")
    @classmethod
    def _check_model_path(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_dir():
            raise ValueError(f"folder {value} does not exist")
        return value

    @model_validator(mode="after")
    def _check_upload_limit(self) -> Settings:
        # The cloud Bot API serves bots files of at most 20 MB; more needs `telegram-bot-api --local`.
        if self.max_upload_mb > CLOUD_BOT_API_MAX_MB and not self.telegram_api_url:
            raise ValueError(
                f"MAX_UPLOAD_MB above {CLOUD_BOT_API_MAX_MB} needs a self-hosted Bot API server: "
                "set TELEGRAM_API_URL"
            )
        return self

    def require_bot_token(self) -> str:
        if self.bot_token is None:
            raise ConfigError("BOT_TOKEN is not set: get one from @BotFather and put it in .env")
        return self.bot_token.get_secret_value()

    @property
    def max_upload_bytes(self) -> int:
        return self.max_upload_mb * 1024 * 1024


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment; a bad value becomes one line naming the variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]  # overrides are validated by pydantic
    except ValidationError as exc:
        first = exc.errors()[0]
        message = first["msg"].removeprefix("Value error, ")
        if not first["loc"]:  # a rule across settings names its variables itself
            raise ConfigError(message) from None
        raise ConfigError(f"{str(first['loc'][0]).upper()}: {message}") from None
