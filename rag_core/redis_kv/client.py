"""The one place that makes a Redis client: one server, or a Redis Cluster (``RAG_REDIS_MODE``).

``standalone`` (the default): ``REDIS_URL`` is one server and the client is ``redis.Redis``.
``cluster``: ``REDIS_URL`` names any node of a Redis Cluster; redis-py's ``RedisCluster`` reads
the slot map from it, routes each key to its master, follows ``MOVED`` after a failover or a
resharding, and runs ``SCAN`` (``scan_iter``) on every master. Everything the service keeps in
Redis works on both: single-key commands, non-transactional pipelines (split by node), and Lua
scripts whose keys share one hash tag (``rag_core.redis_kv.keys``).

A cluster client raises ``RedisClusterException`` (not a ``RedisError``) when no node answers
its topology query: every fail-open ``except`` of the service catches :data:`REDIS_ERRORS`.

:func:`slot_owner` names the master that serves a key's slot (from the client's slot map, no
round trip). Values that must not outlive a failover silently (the notes version, the cost
ledger's ``seeded`` mark) carry it: a promoted replica may lack the last writes of the master it
replaced, so a value written through another master is read again from PostgreSQL.
"""

from __future__ import annotations

import threading
from typing import Literal, TypeAlias

from rag_core.config import Settings, fixed
from rag_core.errors import DependencyError
from rag_core.redis_kv.redis_py import (
    ExponentialBackoff,
    RedisCluster,
    RedisClusterException,
    Retry,
    redis,
)
from rag_core.redis_kv.restarts import RunIdWatch, register

RedisClient: TypeAlias = redis.Redis | RedisCluster
RedisMode = Literal["standalone", "cluster"]
REDIS_ERRORS: tuple[type[Exception], ...] = (redis.RedisError, RedisClusterException)

# A failover is seconds of refused or redirected commands: retry a little, then fail open.
CLUSTER_RETRIES = 2



class RedisClusterUnreachable(DependencyError):
    code = "REDIS_CLUSTER_UNREACHABLE"
    default_message = ("RAG_REDIS_MODE=cluster, but no Redis Cluster node answered at REDIS_URL "
                       "(down, or a server without cluster mode: then set "
                       "RAG_REDIS_MODE=standalone).")


_clients: dict[tuple[str, str], RedisClient] = {}
_clients_lock = threading.Lock()


def connect(url: str, mode: RedisMode = "standalone", *, timeout_s: float = 0.25,
            decode_responses: bool = False) -> RedisClient:
    """A new client of ``url`` in ``mode`` with short socket timeouts (a dead Redis must cost a
    request a fraction of a second). A cluster client asks ``url`` for the slot map at once:
    without an answer, :class:`RedisClusterUnreachable` (a coded error, not a traceback)."""
    common = {"socket_timeout": timeout_s, "socket_connect_timeout": timeout_s,
              "health_check_interval": 5, "decode_responses": decode_responses}
    if mode == "cluster":
        retry = Retry(ExponentialBackoff(cap=0.5, base=0.05), retries=CLUSTER_RETRIES)
        try:
            return RedisCluster.from_url(url, retry=retry, **common)  # type: ignore[arg-type]
        except REDIS_ERRORS as exc:
            raise RedisClusterUnreachable() from exc
    watch = RunIdWatch()  # a restarted server is noticed by the first new connection
    client = redis.Redis.from_url(url, retry_on_timeout=False,  # type: ignore[arg-type]
                                  redis_connect_func=watch.on_connect, **common)
    register(client, watch, url)
    return client


def shared_client(url: str, settings: Settings) -> RedisClient:
    """One shared client (and connection pools) per URL and mode per process; values stay
    bytes."""
    mode: RedisMode = settings.services.redis_mode
    with _clients_lock:
        client = _clients.get((mode, url))
        if client is None:
            client = connect(url, mode, timeout_s=fixed.REDIS_TIMEOUT_S)
            _clients[(mode, url)] = client
        return client


def client_for(settings: Settings) -> RedisClient | None:
    """The shared client of ``settings.redis_url`` (None when Settings name no Redis)."""
    return shared_client(settings.services.redis_url,
                         settings) if settings.services.redis_url else None


def slot_owner(client: RedisClient, key: str) -> str:
    """``host:port`` of the master that serves ``key`` in a cluster (``?`` when the slot map
    has no owner for it); ``""`` for a single server, which has no failover of its own."""
    if not isinstance(client, RedisCluster):
        return ""
    try:
        return str(client.get_node_from_key(key).name)
    except REDIS_ERRORS:
        return "?"
