"""Composition root, service half: settings → adapters → services. The CLI needs only this half;
`bot.telegram_app` adds the bot and dispatcher on top. Nothing else wires."""

from __future__ import annotations

import contextlib
import logging
import math
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from qdrant_client import AsyncQdrantClient

from bot.concurrency import Pools
from bot.config import ConfigError, Settings, redis_url_passwords
from bot.delivery.outbox import Outbox
from bot.delivery.service import AnswerDelivery, DeliveryConfig
from bot.domain import LLMUnavailableError
from bot.embed.embedder import Embedder, vector_name_for
from bot.embed.sparse import SparseEmbedder
from bot.helpdesk.admins import AdminDirectory
from bot.helpdesk.desk import QuestionDesk
from bot.helpdesk.feedback import FeedbackService
from bot.helpdesk.limits import ActionLimiter, QuestionLimiter
from bot.helpdesk.measured_desk import MeasuredDesk
from bot.helpdesk.model_queue import ModelQueue
from bot.helpdesk.onboarding import OnboardingService
from bot.helpdesk.preferences import ChatPreferencesService
from bot.ingest.albums import AlbumCollector
from bot.ingest.freshness import WebSources
from bot.ingest.jobs import IngestionJobs
from bot.ingest.pipeline import IngestionService
from bot.ingest.web import WebClient
from bot.llm.client import ChatModel
from bot.rag.answering import AnsweringService, SamplingConfig
from bot.rag.context import ContextBudget
from bot.rag.retrieval import RetrievalConfig, Retriever
from bot.rag.translation import QueryTranslator
from bot.storage.admin_cache import AdminCacheStore
from bot.storage.albums import AlbumBuffer
from bot.storage.chat_settings import ChatSettingsStore
from bot.storage.chunks import transfer
from bot.storage.chunks.edge import EdgeCollection, StoreInUseError
from bot.storage.chunks.interface import ChunkStore, CollectionBackend, CollectionSettings
from bot.storage.chunks.local_import import has_local_mode_collection, import_local_mode
from bot.storage.chunks.server import ServerCollection
from bot.storage.chunks.store import QdrantChunkStore
from bot.storage.feedback import FeedbackStore
from bot.storage.history import ChatHistory
from bot.storage.job_queue import JobQueue, consumer_name
from bot.storage.migrator import MigrationContext, SchemaError, ensure_schema, migrate, read_metadata
from bot.storage.outbox_store import OutboxStore
from bot.storage.rate_limits import SendPacer, WaitingQuestions, WindowCounter
from bot.storage.redis_backup import dump_keys, restore_keys
from bot.storage.redis_connections import (
    RedisConnections,
    connect_redis,
    reachable,
    shown_url,
)
from bot.storage.redis_server import RedisServerProcess
from bot.storage.seen_updates import SeenUpdates
from bot.storage.web_sources import WebSourceStore

log = logging.getLogger(__name__)

BACKUP_QDRANT_DIR = "qdrant"


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
    albums: AlbumCollector
    web_sources: WebSources
    pools: Pools  # CPU-bound work of handlers (rendering, attribution): `await pools.cpu.run(fn, *args)`
    # issue 12: answers kept until delivered, and questions until answered
    outbox: Outbox
    outbox_records: OutboxStore
    action_limiter: ActionLimiter
    # Issue 10: rich, streamed answers; their final messages go through the outbox.
    delivery: AnswerDelivery
    # Issue 13: webhook deduplication and readiness probes (name → raises unless it answers).
    seen_updates: SeenUpdates | None = None
    probes: Mapping[str, Callable[[], Awaitable[None]]] = field(default_factory=dict)


def load_embedder(settings: Settings, pools: Pools | None = None) -> Embedder:
    """The e5 model; on `pools.embed` it runs single-threaded per call, one call per worker at once."""
    if pools is None:
        return Embedder(settings.embedding_model, settings.embedding_model_path)
    return Embedder(settings.embedding_model, settings.embedding_model_path, threads=1).on(pools.embed)


def open_pools(settings: Settings) -> Pools:
    """The process's executors; whoever opens them shuts them down (`Pools.shutdown`)."""
    return Pools.for_machine(settings.embed_workers, settings.cpu_workers, settings.render_workers)


async def open_chunk_backend(settings: Settings, dense_name: str) -> CollectionBackend:
    """The chunk collection's engine: a Qdrant server if QDRANT_URL is set, else Qdrant Edge in-process.

    Raises ConfigError when the embedded store is held by another process.
    """
    if settings.qdrant_url:
        api_key = settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None
        client = AsyncQdrantClient(
            url=settings.qdrant_url, api_key=api_key, timeout=math.ceil(settings.qdrant_timeout_s)
        )
        return ServerCollection(
            client, settings.qdrant_collection, dense_name, settings.qdrant_write_ordering
        )
    if str(settings.qdrant_path) == ":memory:":
        # Throwaway runs (benchmarks): qdrant-client's in-memory engine, nothing on disk.
        memory = AsyncQdrantClient(location=":memory:")
        return ServerCollection(memory, settings.qdrant_collection, dense_name)
    try:
        return await EdgeCollection.open(edge_root(settings), settings.qdrant_collection, dense_name)
    except StoreInUseError as exc:
        raise ConfigError(in_use_message(settings, str(exc))) from None


def edge_root(settings: Settings) -> Path:
    return settings.qdrant_path / "edge"


def in_use_message(settings: Settings, detail: str) -> str:
    return (
        f"QDRANT_PATH: {settings.qdrant_path} is in use by another process ({detail}). Stop the bot "
        "first, or run a Qdrant server and set QDRANT_URL so several processes can share it."
    )


def collection_settings(settings: Settings) -> CollectionSettings:
    return CollectionSettings(
        shards=settings.qdrant_shards,
        replication_factor=settings.qdrant_replication_factor,
        write_consistency=settings.qdrant_write_consistency,
        on_disk_payload=settings.qdrant_on_disk_payload,
    )


def migration_context(
    settings: Settings, backend: CollectionBackend, embedder: Embedder, sparse: SparseEmbedder
) -> MigrationContext:
    return MigrationContext(
        backend=backend,
        dim=embedder.dim,
        embedding_model=embedder.model_name,
        sparse=sparse,
        settings=collection_settings(settings),
    )


async def run_migrations(
    settings: Settings, embedder: Embedder, sparse: SparseEmbedder | None = None
) -> list[str]:
    """Applies pending schema steps; on Edge, first moves a collection of the old embedded mode in."""
    backend = await open_chunk_backend(settings, embedder.vector_name)
    try:
        ctx = migration_context(settings, backend, embedder, sparse or SparseEmbedder())
        notes: list[str] = []
        if isinstance(backend, EdgeCollection) and has_local_mode_collection(
            settings.qdrant_path, settings.qdrant_collection
        ):
            try:
                moved = await import_local_mode(settings.qdrant_path, ctx, backend)
            except StoreInUseError as exc:
                raise ConfigError(in_use_message(settings, str(exc))) from None
            if moved is not None:
                notes.append(
                    f"moved {moved} chunks from {settings.qdrant_path / 'collection'} into Qdrant Edge "
                    f"({backend.shard_path}); the old folder can be deleted"
                )
        return notes + await migrate(ctx)
    finally:
        await backend.close()


@dataclass(frozen=True)
class BackupSummary:
    chunks: int
    redis_keys: int


async def backup_store(settings: Settings, folder: Path) -> BackupSummary:
    """Writes the chunk collection (vectors included) and the Redis keys that matter into `folder`.

    On the embedded store the bot must be stopped (Edge allows one process); with QDRANT_URL and
    REDIS_URL it runs beside the bot. Raises ConfigError or SchemaError with the reason, and
    RedisUnreachableError before anything is written when Redis cannot be reached.
    """
    # Through the one Redis factory: REDIS_URL, the master REDIS_SENTINELS name, or the embedded server.
    async with open_redis(settings) as redis:
        backend = await open_chunk_backend(settings, vector_name_for(settings.embedding_model))
        try:
            chunks = await transfer.dump(backend, folder / BACKUP_QDRANT_DIR)
        finally:
            await backend.close()
        async with _reachable(settings, settings.redis_url):
            keys = await dump_keys(redis.pool, folder)
    return BackupSummary(chunks, keys)


async def restore_store(
    settings: Settings, folder: Path, sparse: SparseEmbedder | None = None
) -> BackupSummary:
    """Restores a `backup_store` folder into an empty chunk store and Redis.

    Raises SchemaError if the folder is no backup, was made with another EMBEDDING_MODEL, or the
    chunk store is not empty; RedisUnreachableError before anything is restored when Redis cannot be
    reached.
    """
    metadata = transfer.read_metadata_file(folder / BACKUP_QDRANT_DIR)
    async with open_redis(settings) as redis:
        backend = await open_chunk_backend(settings, vector_name_for(settings.embedding_model))
        try:
            ctx = MigrationContext(
                backend=backend,
                dim=int(metadata.get("embedding_dim", 0)),
                embedding_model=settings.embedding_model,
                sparse=sparse or SparseEmbedder(),
                settings=collection_settings(settings),
            )
            chunks = await transfer.load(ctx, folder / BACKUP_QDRANT_DIR)
        finally:
            await backend.close()
        async with _reachable(settings, settings.redis_url):
            keys = await restore_keys(redis.pool, folder)
    return BackupSummary(chunks, keys)


@contextlib.asynccontextmanager
async def open_redis(settings: Settings) -> AsyncIterator[RedisConnections]:
    """Redis clients through the one factory: Sentinel, REDIS_URL, or an embedded redis-server.

    Pings first: raises RedisUnreachableError (one line naming the setting and the address, without a
    password, and what to do) when Redis cannot be reached."""
    async with contextlib.AsyncExitStack() as stack:
        url = ""
        if settings.redis_sentinels:
            connections = connect_redis(
                sentinels=settings.sentinel_addresses,
                master=settings.redis_sentinel_master,
                password=settings.redis_password.get_secret_value() if settings.redis_password else None,
                db=settings.redis_db,
            )
        else:
            url = await stack.enter_async_context(redis_address(settings))
            connections = connect_redis(url=url)
        stack.push_async_callback(connections.close)
        async with _reachable(settings, url):
            await connections.ping()
        yield connections


def _reachable(settings: Settings, url: str) -> contextlib.AbstractAsyncContextManager[None]:
    """`reachable` with this deployment's words: which setting points at Redis, and what to do."""
    if settings.redis_sentinels:
        where = f"REDIS_SENTINELS={settings.redis_sentinels} (master {settings.redis_sentinel_master!r})"
        hint = "check that the sentinels run and know REDIS_SENTINEL_MASTER, and REDIS_PASSWORD"
        secret = settings.redis_password.get_secret_value() if settings.redis_password else None
        return reachable(where, hint, secrets=[secret] if secret else [])
    if not settings.redis_url:
        return reachable(
            f"{url} (the embedded redis-server, REDIS_URL is empty)",
            f"check that {settings.redis_data_dir} is writable, or set REDIS_URL to a running Redis",
        )
    hint = "start Redis there, or set REDIS_URL to a running one (empty: an embedded redis-server)"
    return reachable(f"REDIS_URL={shown_url(url)}", hint, secrets=redis_url_passwords(url))


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
    settings: Settings,
    embedder: Embedder | None = None,
    sparse: SparseEmbedder | None = None,
    pools: Pools | None = None,
) -> AsyncIterator[tuple[Embedder, ChunkStore, IngestionService]]:
    """The chunk store (schema checked) and the ingestion service: all that document commands need.

    Without `pools` it opens its own and shuts them down on exit."""
    own_pools = pools is None
    pools = pools or open_pools(settings)
    embedder = embedder.on(pools.embed) if embedder else load_embedder(settings, pools)
    sparse = (sparse or SparseEmbedder()).on(pools.cpu)
    backend = await open_chunk_backend(settings, embedder.vector_name)
    try:
        ctx = migration_context(settings, backend, embedder, sparse)
        if (
            isinstance(backend, EdgeCollection)
            and await read_metadata(ctx) is None
            and has_local_mode_collection(settings.qdrant_path, settings.qdrant_collection)
        ):
            # An empty Edge store beside the old embedded one: creating a schema would hide the data.
            raise SchemaError(
                f"{settings.qdrant_path} holds the knowledge base of the old embedded store: run "
                "`kb-bot migrate` once to move it into Qdrant Edge (its vectors are kept)."
            )
        created = await ensure_schema(ctx)
        if created:
            log.info("created the Qdrant schema in an empty store: %s", ", ".join(created))
        store = QdrantChunkStore(backend)
        ingestion = IngestionService(
            embedder,
            sparse,
            store,
            chunk_tokens=settings.chunk_tokens,
            max_bytes=settings.max_upload_bytes,
            cpu=pools.cpu,
        )
        yield embedder, store, ingestion
    finally:
        await backend.close()
        if own_pools:
            pools.shutdown()


@contextlib.asynccontextmanager
async def build_services(
    settings: Settings, *, embedder: Embedder | None = None, sparse: SparseEmbedder | None = None
) -> AsyncIterator[Services]:
    """Opens every adapter, checks the schema, yields the services, and closes it all."""
    pools = open_pools(settings)
    sparse = (sparse or SparseEmbedder()).on(pools.cpu)
    async with contextlib.AsyncExitStack() as stack:
        stack.callback(pools.shutdown)
        # Redis first: when it is away the command stops at once, before the model is loaded.
        connections = await stack.enter_async_context(open_redis(settings))
        redis = connections.client
        model, store, ingestion = await stack.enter_async_context(
            open_knowledge_base(settings, embedder, sparse, pools)
        )
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
            Retriever(model, sparse, store, retrieval_config(settings), cpu=pools.cpu),
            llm,
            history,
            SamplingConfig(
                temperature=settings.llm_temperature,
                top_k=settings.llm_top_k,
                max_tokens=settings.llm_max_tokens,
                structured_outputs=settings.llm_structured_outputs,
                history_budget_chars=settings.history_budget_chars,
            ),
            translator=QueryTranslator(llm, timeout_s=settings.query_translation_timeout_s)
            if settings.query_translation == "auto"
            else None,
            cpu=pools.cpu,
        )
        preferences = ChatPreferencesService(ChatSettingsStore(redis))
        feedback = FeedbackService(
            FeedbackStore(redis, retention_s=settings.feedback_retention_days * 24 * 3600)
        )
        outbox_records = OutboxStore(redis, owner=settings.replica_name or socket.gethostname())
        outbox = Outbox(
            outbox_records,
            deadline_s=settings.delivery_deadline_s,
            on_delivered=partial(_remember_delivered, answering),
        )
        limiter = QuestionLimiter(
            WindowCounter(limits_pool),
            user_rate=settings.user_question_rate,
            chat_rate=settings.chat_question_rate,
        )
        web_sources = WebSources(
            ingestion,
            WebSourceStore(redis),
            WebClient(max_bytes=settings.max_upload_bytes, allow_private=settings.url_allow_private_networks),
            refresh_every_s=settings.url_refresh_hours * 3600,
            delay_s=settings.crawl_delay_s,
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
                ModelQueue(
                    settings.llm_max_concurrency,
                    settings.llm_queue_max,
                    notice_after_s=settings.llm_queue_notice_after_s,
                ),
                feedback,
                catalog=ingestion,
                line=WaitingQuestions(redis),
                user_queue_max=settings.user_queue_max,
            ),
            jobs=IngestionJobs(
                JobQueue(redis, consumer=consumer_name(), stale_after_s=settings.ingest_stale_after_s),
                ingestion,
                web=web_sources,
                max_waiting_per_chat=settings.ingest_max_waiting_per_chat,
            ),
            send_pacer=SendPacer(limits_pool, settings.group_send_rate),
            onboarding=OnboardingService(ingestion, preferences),
            albums=AlbumCollector(AlbumBuffer(redis), window_s=settings.album_window_s),
            web_sources=web_sources,
            pools=pools,
            outbox=outbox,
            outbox_records=outbox_records,
            action_limiter=ActionLimiter(WindowCounter(limits_pool), rate=settings.user_command_rate),
            delivery=AnswerDelivery(delivery_config(settings), outbox=outbox, render=pools.render),
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


async def _remember_delivered(answering: AnsweringService, receipt: dict[str, Any]) -> None:
    # An answer's receipt names the turn to remember (see bot/handlers/questions.py).
    await answering.remember_turn(
        int(receipt["chat_id"]),
        receipt["thread_id"],
        str(receipt["question"]),
        str(receipt["memo"]),
        speaker=receipt.get("speaker"),
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
