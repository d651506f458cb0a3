"""One settings tree, read from the environment and `.env`, validated once at start."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

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

    # No default: answering needs a model server, and a silent localhost guess hides a missing .env.
    llm_base_url: str = ""
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
    retrieval_fusion: Literal["dbsf", "rrf", "dbsf-coverage"] = "dbsf-coverage"
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

    # uvloop (default; falls back to asyncio's loop where uvloop is not installed) or asyncio.
    event_loop: Literal["uvloop", "asyncio"] = "uvloop"

    log_level: str = "INFO"

    # Issue 14: a question over USER_QUESTION_RATE waits for the window instead of being dropped,
    # up to this many of one user's questions at once; only beyond that is it refused.
    user_queue_max: int = Field(default=3, ge=0, le=20)

    # Issue 9 / 13: the chunk store. Qdrant Edge in-process at QDRANT_PATH unless QDRANT_URL is set.
    qdrant_timeout_s: float = Field(default=60.0, gt=0)
    # A new collection's layout on a Qdrant server (m0001 reads them; changing them later needs a
    # new collection): shards, copies of each shard, and how many copies must confirm a write.
    qdrant_shards: int = Field(default=1, ge=1, le=1000)
    qdrant_replication_factor: int = Field(default=1, ge=1, le=100)
    qdrant_write_consistency: int = Field(default=1, ge=1, le=100)
    # Payload (chunk texts) on disk, read through the page cache: RAM stays flat as the base grows.
    qdrant_on_disk_payload: bool = True
    qdrant_write_ordering: Literal["weak", "medium", "strong"] = "weak"

    # Issue 11: albums and fresh web sources.
    # An album's files are collected until none has arrived for this long, then uploaded as one set.
    album_window_s: float = Field(default=2.0, gt=0, le=60)
    # Pages added by URL (/add_url, /add_site) are re-checked this often; 0 turns re-checking off.
    url_refresh_hours: float = Field(default=24, ge=0)
    # /add_site and re-checks wait this long between two requests to a site (one request at a time).
    crawl_delay_s: float = Field(default=1.0, ge=0, le=60)

    # Issue 9: executors and the line in front of the model.
    # Threads for e5 and for pure-Python work (parsing, BM25, attribution), and processes that render
    # answers; 0 sizes them for this machine (one per core; at least two CPU threads).
    embed_workers: int = Field(default=0, ge=0, le=64)
    cpu_workers: int = Field(default=0, ge=0, le=64)
    render_workers: int = Field(default=0, ge=0, le=64)
    # Questions that may wait for a model slot beyond LLM_MAX_CONCURRENCY; more are refused, told when to
    # come back. A question is told its place in line once it has waited this long for the model.
    llm_queue_max: int = Field(default=50, ge=0, le=100_000)
    llm_queue_notice_after_s: float = Field(default=2.0, ge=0)

    # --- Issue 13: operations and scale-out ---
    # polling: one process receives updates; webhook: any number of replicas behind a load balancer.
    telegram_mode: Literal["polling", "webhook"] = "polling"
    # The public HTTPS base Telegram posts to (WEBHOOK_BASE_URL + WEBHOOK_PATH), and the secret it sends
    # back in X-Telegram-Bot-Api-Secret-Token (Telegram allows 1-256 characters of A-Z a-z 0-9 _ -).
    webhook_base_url: str = ""
    webhook_path: str = "/telegram/webhook"
    webhook_secret: SecretStr | None = None
    # Updates processed at once per replica; more wait, unanswered, so Telegram slows down and retries.
    webhook_max_in_flight: int = Field(default=32, ge=1, le=100)
    # The bot's own HTTP server: the webhook, /healthz, /readyz, /metrics (in both modes). 0 = any free port.
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8080, ge=0, le=65535)
    # Seconds each readiness probe (Redis, Qdrant, the model server) may take.
    readiness_timeout_s: float = Field(default=3.0, gt=0)
    log_format: Literal["text", "json"] = "text"
    # true: `run` also consumes the ingestion queue; false: only `kb-bot worker` processes do.
    ingest_in_process: bool = True
    # On SIGTERM: answers in flight get this many seconds to finish before the process exits.
    shutdown_grace_s: float = Field(default=20.0, ge=0)
    # Redis through Sentinel instead of REDIS_URL: "host1:26379,host2:26379" and the master's name.
    redis_sentinels: str = ""
    redis_sentinel_master: str = ""
    redis_password: SecretStr | None = None
    redis_db: int = Field(default=0, ge=0)

    # --- issue 12: reliability and security ---
    # Key for the HMAC that binds button data to its chat; empty: derived from BOT_TOKEN.
    callback_secret: SecretStr | None = None
    # An answer is retried (429, 5xx, network) and resumed after restarts for this long, then dropped.
    delivery_deadline_s: float = Field(default=600.0, gt=0)
    # Commands (other than /ask, which counts as a question) and button presses per user.
    user_command_rate: str = "10/minute"
    # Uploads one chat may have waiting at once; uploads run round-robin across chats.
    ingest_max_waiting_per_chat: int = Field(default=20, ge=1)

    # Issue 10: answers as rich messages, streamed, with links checked against the documents.
    stream_interval_ms: int = Field(default=400, ge=50, le=10_000)
    group_stream_interval_s: float = Field(default=3.0, ge=1.0, le=60.0)
    render_timeout_s: float = Field(default=2.0, gt=0, le=30)
    answer_links: bool = True
    rich_messages: bool = True

    # Issue 12: whose pending answers and journaled questions a process resumes after a restart. Stable
    # per replica (default: the host name); two processes on one host need names of their own.
    replica_name: str = ""

    # Issue 11 (cross-lingual retrieval): a question in the other language than documents in the chat's
    # scope is also searched translated by the model (one short call); "off" never asks.
    query_translation: Literal["auto", "off"] = "auto"
    # The most that call may take, waiting for a model slot included; past it the question is searched
    # as asked.
    query_translation_timeout_s: float = Field(default=5.0, gt=0, le=60)

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

    @field_validator("user_question_rate", "chat_question_rate", "group_send_rate", "user_command_rate")
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

    def require_llm_base_url(self) -> str:
        if not self.llm_base_url:
            raise ConfigError(
                "LLM_BASE_URL is not set: point it at an OpenAI-compatible server with the model "
                "(vLLM or llama.cpp, e.g. http://localhost:8000/v1) in .env"
            )
        return self.llm_base_url

    @property
    def max_upload_bytes(self) -> int:
        return self.max_upload_mb * 1024 * 1024

    # --- Issue 13: operations and scale-out ---
    @field_validator("webhook_base_url")
    @classmethod
    def _check_webhook_url(cls, value: str) -> str:
        if value and not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("must be the public base URL Telegram posts to, such as https://bot.example.com")
        return value.rstrip("/")

    @field_validator("webhook_path")
    @classmethod
    def _check_webhook_path(cls, value: str) -> str:
        if not re.match(r"^/[\w./-]*$", value):
            raise ValueError("must be a URL path such as /telegram/webhook")
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _check_webhook_secret(cls, value: SecretStr | None) -> SecretStr | None:
        # Telegram's rule for secret_token; 16+ characters so it can't be guessed (OWASP).
        if value is not None and not re.fullmatch(r"[A-Za-z0-9_-]{16,256}", value.get_secret_value()):
            raise ValueError("must be 16-256 characters of A-Z, a-z, 0-9, _ and - (Telegram's secret_token)")
        return value

    @field_validator("redis_sentinels")
    @classmethod
    def _check_sentinels(cls, value: str) -> str:
        for address in filter(None, (part.strip() for part in value.split(","))):
            if not re.fullmatch(r"[\w.-]+:\d{1,5}", address):
                raise ValueError('must be comma-separated host:port pairs, e.g. "sentinel-1:26379"')
        return value

    @model_validator(mode="after")
    def _check_operations(self) -> Settings:
        if self.telegram_mode == "webhook" and not (self.webhook_base_url and self.webhook_secret):
            raise ValueError("TELEGRAM_MODE=webhook needs WEBHOOK_BASE_URL and WEBHOOK_SECRET")
        if self.redis_sentinels and self.redis_url:
            raise ValueError("set either REDIS_URL or REDIS_SENTINELS, not both")
        if bool(self.redis_sentinels) != bool(self.redis_sentinel_master):
            raise ValueError("REDIS_SENTINELS and REDIS_SENTINEL_MASTER go together")
        if self.redis_password and not self.redis_sentinels:
            raise ValueError("REDIS_PASSWORD is for Sentinel; with REDIS_URL put it in the URL")
        return self

    @property
    def sentinel_addresses(self) -> list[tuple[str, int]]:
        """REDIS_SENTINELS as (host, port) pairs; empty when Sentinel is not used."""
        pairs = [part.strip().rsplit(":", 1) for part in self.redis_sentinels.split(",") if part.strip()]
        return [(host, int(port)) for host, port in pairs]

    def secret_values(self) -> list[str]:
        """Every credential in the settings, for the log redactor: tokens, keys, passwords."""
        secrets = [
            value.get_secret_value()
            for value in (
                self.bot_token,
                self.llm_api_key,
                self.qdrant_api_key,
                self.webhook_secret,
                self.redis_password,
            )
            if value is not None
        ]
        return secrets + (redis_url_passwords(self.redis_url) if self.redis_url else [])


def redis_url_passwords(url: str) -> list[str]:
    """The passwords a Redis URL carries, as written in it: in its address (`redis://user:pw@host`)
    and as redis-py's `?password=` argument."""
    parts = urlsplit(url)
    arguments = (field.partition("=") for field in parts.query.split("&"))
    in_query = [value for name, _, value in arguments if name == "password"]
    return [password for password in [parts.password, *in_query] if password]


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
