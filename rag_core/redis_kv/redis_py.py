"""redis-py, imported for the whole package here: every module of ``rag_core`` takes ``redis``
and its names from this module, never by an ``import redis`` of its own.

redis-py 8 imports OpenTelemetry's metrics SDK on import when it is installed, for an
observability of its own that is off until a program calls its ``init``; this service never
does (its metrics are Prometheus's, its traces its own spans). That costs about 40 ms of CPU:
``import redis`` 94.7 ms (86.5-104.5) against 53.5 ms (48.0-64.5) through ``import_without``,
the median and range of 7 fresh processes each (``python benchmarks/bench_import_shims.py
redis``, 2026-11-28, a machine shared at load 13). redis-py is imported as on a host
without the SDK (``lean_imports.import_without``): it records the SDK as absent; the SDK stays
importable (``rag_core.telemetry`` and anyone else import it as usual). A process that
imported redis-py or the SDK before this module keeps what it has.
"""

from __future__ import annotations

from rag_core.lean_imports import import_without

import_without("redis", "opentelemetry.sdk.metrics")

import redis  # noqa: E402
from redis.backoff import ExponentialBackoff  # noqa: E402
from redis.cluster import RedisCluster  # noqa: E402
from redis.exceptions import RedisClusterException, ResponseError  # noqa: E402
from redis.retry import Retry  # noqa: E402

__all__ = ["ExponentialBackoff", "RedisCluster", "RedisClusterException", "ResponseError", "Retry",
           "redis"]
