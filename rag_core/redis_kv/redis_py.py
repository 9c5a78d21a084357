"""redis-py, imported for the whole package here: every module of ``rag_core`` takes ``redis``
and its names from this module, never by an ``import redis`` of its own.

redis-py 8 imports OpenTelemetry's metrics SDK on import when it is installed (about 80 ms of
CPU), for an observability of its own that is off until a program calls its ``init``; this
service never does (its metrics are Prometheus's, its traces its own spans). The SDK is
hidden while redis-py imports, so redis-py records it as absent, as it does on a host without
it; the SDK stays importable afterwards (``rag_core.observability`` and anyone else import it
as usual). A process that imported redis-py or the SDK before this module keeps what it has.
"""

from __future__ import annotations

import sys

_SDK = "opentelemetry.sdk.metrics"


def _import_without_sdk() -> None:
    if "redis" in sys.modules or _SDK in sys.modules:
        return
    sys.modules[_SDK] = None  # type: ignore[assignment]  # an import of it raises ImportError
    try:
        import redis  # noqa: F401
    finally:
        if sys.modules.get(_SDK, 0) is None:
            del sys.modules[_SDK]


_import_without_sdk()

import redis  # noqa: E402
from redis.backoff import ExponentialBackoff  # noqa: E402
from redis.cluster import RedisCluster  # noqa: E402
from redis.exceptions import RedisClusterException, ResponseError  # noqa: E402
from redis.retry import Retry  # noqa: E402

__all__ = ["ExponentialBackoff", "RedisCluster", "RedisClusterException", "ResponseError", "Retry",
           "redis"]
