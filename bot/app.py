"""Composition root, service half: settings → adapters → services. The CLI needs only this half;
`bot.telegram_app` adds the bot and dispatcher on top. Nothing else wires."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from qdrant_client import AsyncQdrantClient

from bot.config import ConfigError, Settings
from bot.domain import LLMUnavailableError
from bot.embed.embedder import Embedder
from bot.embed.sparse import SparseEmbedder
from bot.helpdesk.admins import AdminDirectory
from bot.helpdesk.desk import QuestionDesk
from bot.helpdesk.feedback import FeedbackService
from bot.helpdesk.limits import ConcurrencyGate, QuestionLimiter
from bot.helpdesk.measured_desk import MeasuredDesk
from bot.helpdesk.onboarding import OnboardingService
from bot.helpdesk.preferences import ChatPreferencesService
from bot.ingest.jobs import IngestionJobs
from bot.ingest.pipeline import IngestionService
from bot.llm.client import ChatModel
from bot.rag.answering import AnsweringService, SamplingConfig
from bot.rag.context import ContextBudget
from bot.rag.retrieval import RetrievalConfig, Retriever
from bot.storage.admin_cache import AdminCacheStore
from bot.storage.chat_settings import ChatSettingsStore
from bot.storage.chunk_store import ChunkStore
from bot.storage.feedback import FeedbackStore
from bot.storage.history import ChatHistory
from bot.storage.job_queue import JobQueue, consumer_name
from bot.storage.migrator import MigrationContext, ensure_schema, migrate
from bot.storage.rate_limits import SendPacer, WaitingQuestions, WindowCounter
from bot.storage.redis_connections import RedisConnections, connect_redis
from bot.storage.redis_server import RedisServerProcess
from bot.storage.seen_updates import SeenUpdates

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Services:
    settings: Settings
    answering: AnsweringService
    ingestion: IngestionService
    admins: AdminDirectory
    preferences: ChatPreferencesService
    feedback: FeedbackService
    desk: QuestionDesk
    jobs: IngestionJobs
    send_pacer: SendPacer
    onboarding: OnboardingService
    # Issue 13: webhook deduplication and readiness probes (name → raises unless it answers).
    seen_updates: SeenUpdates | None = None
    probes: Mapping[str, Callable[[], Awaitable[None]]] = field(default_factory=dict)


def load_embedder(settings: Settings) -> Embedder:
    return Embedder(settings.embedding_model, settings.embedding_model_path)


def open_qdrant(settings: Settings) -> AsyncQdrantClient:
    if settings.qdrant_url:
        api_key = settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None
        return AsyncQdrantClient(url=settings.qdrant_url, api_key=api_key)
    if str(settings.qdrant_path) == ":memory:":
        return AsyncQdrantClient(location=":memory:")
    settings.qdrant_path.mkdir(parents=True, exist_ok=True)
    try:
        return AsyncQdrantClient(path=str(settings.qdrant_path))
    except RuntimeError as exc:
        # Embedded Qdrant locks its folder: a second process (CLI next to a running bot) can't open it.
        raise ConfigError(
            f"QDRANT_PATH: {settings.qdrant_path} is in use by another process ({exc}). Stop the bot "
            "first, or run a Qdrant server and set QDRANT_URL so several processes can share it."
        ) from None


def migration_context(
    settings: Settings, qdrant: AsyncQdrantClient, embedder: Embedder, sparse: SparseEmbedder
) -> MigrationContext:
    return MigrationContext(
        client=qdrant,
        collection=settings.qdrant_collection,
        vector_name=embedder.vector_name,
        dim=embedder.dim,
        embedding_model=embedder.model_name,
        sparse=sparse,
    )


async def run_migrations(
    settings: Settings, embedder: Embedder, sparse: SparseEmbedder | None = None
) -> list[str]:
    qdrant = open_qdrant(settings)
    try:
        return await migrate(migration_context(settings, qdrant, embedder, sparse or SparseEmbedder()))
    finally:
        await qdrant.close()


@contextlib.asynccontextmanager
async def open_redis(settings: Settings) -> AsyncIterator[RedisConnections]:
    """Redis clients through the one factory: Sentinel, REDIS_URL, or an embedded redis-server."""
    async with contextlib.AsyncExitStack() as stack:
        if settings.redis_sentinels:
            connections = connect_redis(
                sentinels=settings.sentinel_addresses,
                master=settings.redis_sentinel_master,
                password=settings.redis_password.get_secret_value() if settings.redis_password else None,
                db=settings.redis_db,
            )
        else:
            connections = connect_redis(url=await stack.enter_async_context(redis_address(settings)))
        stack.push_async_callback(connections.close)
        yield connections


@contextlib.asynccontextmanager
async def redis_address(settings: Settings) -> AsyncIterator[str]:
    """REDIS_URL, or the address of an embedded redis-server started (and stopped) here."""
    if settings.redis_url:
        yield settings.redis_url
        return
    server = RedisServerProcess(settings.redis_data_dir)
    url = await server.start()
    log.info("started embedded redis-server at %s", url)
    try:
        yield url
    finally:
        await server.stop()


@contextlib.asynccontextmanager
async def open_knowledge_base(
    settings: Settings, embedder: Embedder | None = None, sparse: SparseEmbedder | None = None
) -> AsyncIterator[tuple[Embedder, ChunkStore, IngestionService]]:
    """Qdrant (schema checked) and the ingestion service: all that document commands need."""
    embedder = embedder or load_embedder(settings)
    sparse = sparse or SparseEmbedder()
    qdrant = open_qdrant(settings)
    try:
        created = await ensure_schema(migration_context(settings, qdrant, embedder, sparse))
        if created:
            log.info("created the Qdrant schema in an empty store: %s", ", ".join(created))
        store = ChunkStore(qdrant, settings.qdrant_collection, embedder.vector_name)
        ingestion = IngestionService(
            embedder, sparse, store, chunk_tokens=settings.chunk_tokens, max_bytes=settings.max_upload_bytes
        )
        yield embedder, store, ingestion
    finally:
        await qdrant.close()


@contextlib.asynccontextmanager
async def build_services(
    settings: Settings, *, embedder: Embedder | None = None, sparse: SparseEmbedder | None = None
) -> AsyncIterator[Services]:
    """Opens every adapter, checks the schema, yields the services, and closes it all."""
    sparse = sparse or SparseEmbedder()
    async with contextlib.AsyncExitStack() as stack:
        model, store, ingestion = await stack.enter_async_context(
            open_knowledge_base(settings, embedder, sparse)
        )
        connections = await stack.enter_async_context(open_redis(settings))
        redis = connections.client
        await redis.ping()
        # The limits library speaks bytes, so it gets a pool of its own.
        limits_pool = connections.pool
        llm = ChatModel(
            base_url=settings.require_llm_base_url(),
            api_key=settings.llm_api_key.get_secret_value(),
            model=settings.llm_model,
            timeout_s=settings.llm_timeout_s,
        )
        stack.push_async_callback(llm.close)
        history = ChatHistory(redis, max_turns=settings.history_turns, ttl_s=settings.history_ttl_s)
        answering = AnsweringService(
            Retriever(model, sparse, store, retrieval_config(settings)),
            llm,
            history,
            SamplingConfig(
                temperature=settings.llm_temperature,
                top_k=settings.llm_top_k,
                max_tokens=settings.llm_max_tokens,
                structured_outputs=settings.llm_structured_outputs,
                history_budget_chars=settings.history_budget_chars,
            ),
        )
        preferences = ChatPreferencesService(ChatSettingsStore(redis))
        feedback = FeedbackService(
            FeedbackStore(redis, retention_s=settings.feedback_retention_days * 24 * 3600)
        )
        limiter = QuestionLimiter(
            WindowCounter(limits_pool),
            user_rate=settings.user_question_rate,
            chat_rate=settings.chat_question_rate,
        )
        yield Services(
            settings=settings,
            answering=answering,
            ingestion=ingestion,
            admins=AdminDirectory(
                settings.admin_ids, AdminCacheStore(redis, ttl_s=settings.admin_cache_ttl_s)
            ),
            preferences=preferences,
            feedback=feedback,
            desk=MeasuredDesk(
                answering,
                preferences,
                limiter,
                ConcurrencyGate(settings.llm_max_concurrency),
                feedback,
                catalog=ingestion,
                line=WaitingQuestions(redis),
                user_queue_max=settings.user_queue_max,
            ),
            jobs=IngestionJobs(
                JobQueue(redis, consumer=consumer_name(), stale_after_s=settings.ingest_stale_after_s),
                ingestion,
            ),
            send_pacer=SendPacer(limits_pool, settings.group_send_rate),
            onboarding=OnboardingService(ingestion, preferences),
            seen_updates=SeenUpdates(redis, bot_id=_bot_id(settings)),
            probes={
                "redis": connections.ping,
                # Any read proves the store answers; this id never exists.
                "qdrant": lambda: _read_nothing(store),
                "model": lambda: _model_answers(llm),
            },
        )


def _bot_id(settings: Settings) -> int:
    # A bot token starts with the bot's id ("123456:ABC…"); the CLI may run without a token.
    return int(settings.bot_token.get_secret_value().split(":")[0]) if settings.bot_token else 0


async def _read_nothing(store: ChunkStore) -> None:
    await store.get_document("readiness-probe")


async def _model_answers(llm: ChatModel) -> None:
    problem = await llm.problem()
    if problem is not None:
        raise LLMUnavailableError(problem)


def retrieval_config(settings: Settings) -> RetrievalConfig:
    return RetrievalConfig(
        fusion=settings.retrieval_fusion,
        followup_max_words=settings.followup_max_words,
        budget=ContextBudget(
            max_documents=settings.retrieval_top_k,
            max_tokens=settings.context_budget_tokens,
            document_max_chars=settings.document_max_chars,
        ),
    )
