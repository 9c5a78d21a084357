"""Redis memory as the app sees it: ``redis_memory_used_bytes`` and ``redis_memory_max_bytes``
(redis_exporter's names, so that the same alert works with either), read from ``INFO memory``
by a daemon thread every ``interval`` seconds while the app runs, with the connections
(``redis_connected_clients`` of ``redis_config_maxclients``, from ``INFO clients``); and the
bytes the keys of some prefixes hold (``held_bytes``: ``rag-core cache stats``, per layer).

A cluster client answers per node: the figures are then those of the fullest node (by its
share of its own cap), which is the one that refuses writes first.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping

from rag_core.redis_kv.client import REDIS_ERRORS, RedisClient
from rag_core.telemetry import metrics

log = logging.getLogger("rag_core.redis_kv.memory")


def _bytes(value: object) -> float:
    """A figure of ``INFO memory`` (a number, or its text); 0 when absent."""
    return float(value) if isinstance(value, int | float | str) and value != "" else 0.0


def memory_figures(info: Mapping[str, object]) -> tuple[float, float]:
    """(used, max) bytes from ``INFO memory`` (a cluster's answer: the fullest node)."""
    if "used_memory" in info:
        return _bytes(info["used_memory"]), _bytes(info.get("maxmemory"))
    nodes = [memory_figures(v) for v in info.values() if isinstance(v, dict)]
    if not nodes:
        return 0.0, 0.0
    return max(nodes, key=lambda n: n[0] / n[1] if n[1] else 0.0)


def client_figures(info: Mapping[str, object]) -> tuple[float, float]:
    """(connected, max) clients from ``INFO clients`` (a cluster's answer: the fullest node)."""
    if "connected_clients" in info:
        return _bytes(info["connected_clients"]), _bytes(info.get("maxclients"))
    nodes = [client_figures(v) for v in info.values() if isinstance(v, dict)]
    if not nodes:
        return 0.0, 0.0
    return max(nodes, key=lambda n: n[0] / n[1] if n[1] else 0.0)


def held_bytes(client: RedisClient, prefixes: Iterable[str], batch: int = 500) -> int:
    """The bytes Redis reports for every key under ``prefixes`` (``MEMORY USAGE`` with every
    value sampled), found by ``SCAN``: O(keys), for an operator's command. A key that expired
    between the scan and its read counts 0. Raises the client's errors."""
    total = 0
    for prefix in prefixes:
        keys: list[bytes] = []
        for key in client.scan_iter(match=prefix + "*", count=batch):
            keys.append(key)
            if len(keys) >= batch:
                total += _usage(client, keys)
                keys = []
        total += _usage(client, keys)
    return total


def _usage(client: RedisClient, keys: list[bytes]) -> int:
    if not keys:
        return 0
    # one key per command: in a Redis Cluster the keys of a batch live in different slots
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.memory_usage(key, samples=0)
    return sum(int(n or 0) for n in pipe.execute())


def refresh(client: RedisClient) -> bool:
    """Read INFO (memory, clients) once and set the gauges; False when Redis did not answer."""
    try:
        used, cap = memory_figures(client.info("memory"))
    except REDIS_ERRORS:
        return False
    metrics.REDIS_MEMORY_USED.set(used)
    metrics.REDIS_MEMORY_MAX.set(cap)
    try:
        connected, most = client_figures(client.info("clients"))
    except REDIS_ERRORS:
        return False
    metrics.REDIS_CLIENTS.set(connected)
    metrics.REDIS_MAX_CLIENTS.set(most)
    return True


class MemoryWatch:
    def __init__(self, client: RedisClient, interval: float = 15.0) -> None:
        self.client = client
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="redis-memory", daemon=True)

    def start(self) -> MemoryWatch:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            refresh(self.client)
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()
