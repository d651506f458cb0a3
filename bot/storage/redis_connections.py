"""The one place Redis clients are made: a plain URL or a Sentinel-watched master (failover).

Every Redis user (history, settings, feedback, admin cache, the job stream, update deduplication and the
`limits` library's rate windows) gets its connections from here, so switching to Sentinel is one setting.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from redis.asyncio import BlockingConnectionPool, ConnectionPool, Redis
from redis.asyncio.sentinel import Sentinel
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from bot.domain import RedisUnreachableError
from bot.storage.redis_outage import connection_options

# Connections per pool (redis-py's default, 100): one per command in flight, so one per question
# being worked on at a moment; a Redis server takes 10,000 clients.
MAX_CONNECTIONS = 100


@dataclass(frozen=True)
class RedisConnections:
    """`client` speaks str (decode_responses); `pool` speaks bytes, for the limits library."""

    client: Redis
    pool: ConnectionPool
    sentinel: Sentinel | None = None  # its own connections to the sentinels, closed with the rest

    async def ping(self) -> None:
        """Raises redis' ConnectionError/TimeoutError when the server (or the elected master) is away."""
        await self.client.ping()

    async def close(self) -> None:
        await self.client.aclose()
        await self.pool.aclose()
        for watcher in self.sentinel.sentinels if self.sentinel else []:
            await watcher.aclose()


def connect_redis(
    *,
    url: str = "",
    sentinels: list[tuple[str, int]] | None = None,
    master: str = "",
    password: str | None = None,
    db: int = 0,
    timeout_s: float = 5.0,
) -> RedisConnections:
    """Clients for `url`, or for the master that `sentinels` currently name for `master`.

    With Sentinel, redis-py asks the sentinels for the master's address on every new connection and
    reconnects after a failover by itself (redis-py's `SentinelConnectionPool`). Nothing connects until
    the first command; `ping()` checks.
    """
    # Every connection heals after a Redis restart: retried on a fresh one, idle ones health-checked.
    options = {**connection_options(), "socket_connect_timeout": timeout_s}
    if sentinels:
        sentinel = Sentinel(  # type: ignore[no-untyped-call]  # redis-py leaves __init__ untyped
            sentinels,
            sentinel_kwargs={"socket_timeout": timeout_s},
            password=password,
            db=db,
            **options,
        )
        client: Redis = sentinel.master_for(master, decode_responses=True)
        pool = sentinel.master_for(master).connection_pool
        return RedisConnections(client=client, pool=pool, sentinel=sentinel)
    if not url:
        raise ValueError("connect_redis needs a URL or sentinels")
    # socket_timeout (5 s) stays above XREADGROUP's BLOCK (1 s) in the job queue.
    # Blocking pools: past MAX_CONNECTIONS commands in flight a command waits (up to `timeout_s`) for a
    # connection, where redis-py's default pool fails it at once with "Too many connections" (measured:
    # 30 questions/s lost history, journal entries and feedback records that way, issue 9).
    return RedisConnections(
        client=Redis.from_pool(
            BlockingConnectionPool.from_url(
                url, decode_responses=True, max_connections=MAX_CONNECTIONS, timeout=timeout_s, **options
            )
        ),
        pool=BlockingConnectionPool.from_url(
            url, max_connections=MAX_CONNECTIONS, timeout=timeout_s, **options
        ),
    )


# redis-py passes a URL's arguments to the connection pool: `?password=` is a password too.
_PASSWORD_ARGUMENT = re.compile(r"(^|&)password=[^&]*")


def shown_url(url: str) -> str:
    """A Redis URL as it may be shown to people: its password replaced by `***` (user, host, port and
    database kept), whether in the address or as redis-py's `?password=` argument.
    `redis://kb:secret@host:6379/0` → `redis://kb:***@host:6379/0`."""
    parts = urlsplit(url)
    netloc, query = parts.netloc, parts.query
    if parts.password is not None:
        netloc = f"{parts.username or ''}:***@{netloc.rsplit('@', 1)[1]}"
    query = _PASSWORD_ARGUMENT.sub(r"\1password=***", query)
    if (netloc, query) == (parts.netloc, parts.query):
        return url
    return urlunsplit(parts._replace(netloc=netloc, query=query))


@contextlib.asynccontextmanager
async def reachable(where: str, hint: str, *, secrets: Sequence[str] = ()) -> AsyncIterator[None]:
    """Turns "Redis is not there" inside the block (refused or timed-out connection, unknown host, a
    wrong password) into one RedisUnreachableError line: `Redis at {where} is not reachable ({reason}):
    {hint}`. `where` names the setting and the address without a password; `secrets` (the passwords) are
    blanked out of redis-py's reason too. Other errors pass through unchanged.
    """
    try:
        yield
    except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        for secret in secrets:
            reason = reason.replace(secret, "***")
        reason = reason.rstrip(".")
        raise RedisUnreachableError(f"Redis at {where} is not reachable ({reason}): {hint}") from None
