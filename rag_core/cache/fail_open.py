"""How a Redis cache layer fails open: a failure is counted (``cache_errors_total``) and logged
at most once per ``interval`` seconds per layer; the caller serves uncached (a miss, a write not
taken), never an error. Every Redis-backed layer reports its failures through :data:`warn`."""

from __future__ import annotations

import logging
import time

from rag_core.telemetry import logs, metrics

log = logging.getLogger("rag_core.cache")


class WarnOnce:
    """Log a backend failure at most once per ``interval`` seconds per layer."""

    def __init__(self, interval: float = 10.0) -> None:
        self.interval = interval
        self._last: dict[str, float] = {}

    def __call__(self, layer: str, exc: Exception) -> None:
        metrics.CACHE_ERRORS.labels(layer=layer).inc()
        now = time.monotonic()
        if now - self._last.get(layer, -1e9) >= self.interval:
            self._last[layer] = now
            logs.log_event(log, logging.WARNING, "cache backend unavailable; serving uncached",
                           layer=layer, error=type(exc).__name__)


warn = WarnOnce()
