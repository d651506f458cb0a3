"""Composition root, service half: settings → adapters → services. The CLI needs only this half;
`bot.telegram_app` adds the bot and dispatcher on top. Nothing else wires."""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass

from qdrant_client import AsyncQdrantClient
from redis.asyncio import ConnectionPool, Redis

from bot.config import ConfigError, Settings
from bot.delivery.service import AnswerDelivery, DeliveryConfig
from bot.embed.embedder import Embedder
from bot.embed.sparse import SparseEmbedder
from bot.helpdesk.admins import AdminDirectory
from bot.helpdesk.desk import QuestionDesk
from bot.helpdesk.feedback import FeedbackService
from bot.helpdesk.limits import ConcurrencyGate, QuestionLimiter
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
from bot.storage.job_queue import JobQueue
from bot.storage.migrator import MigrationContext, check_schema, migrate
from bot.storage.rate_limits import SendPacer, WindowCounter
from bot.storage.redis_server import RedisServerProcess

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
    delivery: AnswerDelivery


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
        await check_schema(migration_context(settings, qdrant, embedder, sparse))
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
        redis_url = await stack.enter_async_context(redis_address(settings))
        redis: Redis = Redis.from_url(redis_url, decode_responses=True)
        stack.push_async_callback(redis.aclose)
        await redis.ping()
        # The limits library speaks bytes, so it gets a pool of its own.
        limits_pool = ConnectionPool.from_url(redis_url)
        stack.push_async_callback(limits_pool.aclose)
        llm = ChatModel(
            base_url=settings.llm_base_url,
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
            desk=QuestionDesk(
                answering, preferences, limiter, ConcurrencyGate(settings.llm_max_concurrency), feedback
            ),
            jobs=IngestionJobs(
                JobQueue(redis, consumer=socket.gethostname(), stale_after_s=settings.ingest_stale_after_s),
                ingestion,
            ),
            send_pacer=SendPacer(limits_pool, settings.group_send_rate),
            delivery=AnswerDelivery(delivery_config(settings)),
        )


def delivery_config(settings: Settings) -> DeliveryConfig:
    return DeliveryConfig(
        stream_interval_s=settings.stream_interval_ms / 1000,
        group_stream_interval_s=settings.group_stream_interval_s,
        render_timeout_s=settings.render_timeout_s,
        links=settings.answer_links,
        rich_messages=settings.rich_messages,
    )


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
