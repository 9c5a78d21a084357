"""Prometheus metric types whose updates never raise into a request.

A metric update is bookkeeping: a negative amount given to a counter, a label value of the
wrong count, a multiprocess file that cannot be written (a full disk) must never turn an answer
into a traceback or a 500. These subclasses of prometheus_client's ``Counter``, ``Gauge`` and
``Histogram`` (their children made by ``labels()`` are of the same class) catch whatever an
update raises, log it once per metric and kind of failure, and count it in process
(:func:`failures`). Every module registers its metrics with these types (a test walks the
registry).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from prometheus_client import Counter as _Counter
from prometheus_client import Gauge as _Gauge
from prometheus_client import Histogram as _Histogram

log = logging.getLogger("rag_core.metrics")
_seen: set[tuple[str, str]] = set()
_lock = threading.Lock()
_failures: dict[str, int] = {}


def failures() -> dict[str, int]:
    """Updates that failed in this process, by metric (``metric_update_failures_total``)."""
    with _lock:
        return dict(_failures)


def _failed(metric: object, exc: Exception) -> None:
    """Log (once per metric and exception type) and count a failed update; never raises."""
    try:
        name = str(getattr(metric, "_name", "?"))
        with _lock:
            _failures[name] = _failures.get(name, 0) + 1
            first = (name, type(exc).__name__) not in _seen
            _seen.add((name, type(exc).__name__))
        if first:
            log.error("metric update failed; the request goes on", extra={"fields": {
                "metric": name, "error": f"{type(exc).__name__}: {exc}"[:200]}})
    except Exception:  # noqa: BLE001 - the last line of defence must not raise either
        pass


class _Dropped:
    """What ``labels()`` returns when the labels themselves were wrong: takes every update."""

    def inc(self, *_: object, **__: object) -> None: ...
    def dec(self, *_: object, **__: object) -> None: ...
    def set(self, *_: object, **__: object) -> None: ...
    def observe(self, *_: object, **__: object) -> None: ...


class _Safe:
    def labels(self, *values: Any, **kwargs: Any) -> Any:  # the base's: a child, or _Dropped
        try:
            return super().labels(*values, **kwargs)  # type: ignore[misc]
        except Exception as exc:  # noqa: BLE001
            _failed(self, exc)
            return _Dropped()


class Counter(_Safe, _Counter):
    def inc(self, amount: float = 1, exemplar: dict[str, str] | None = None) -> None:
        try:
            super().inc(amount, exemplar)
        except Exception as exc:  # noqa: BLE001
            _failed(self, exc)


class Gauge(_Safe, _Gauge):
    def inc(self, amount: float = 1) -> None:
        try:
            super().inc(amount)
        except Exception as exc:  # noqa: BLE001
            _failed(self, exc)

    def dec(self, amount: float = 1) -> None:
        try:
            super().dec(amount)
        except Exception as exc:  # noqa: BLE001
            _failed(self, exc)

    def set(self, value: float) -> None:
        try:
            super().set(value)
        except Exception as exc:  # noqa: BLE001
            _failed(self, exc)


class Histogram(_Safe, _Histogram):
    def observe(self, amount: float, exemplar: dict[str, str] | None = None) -> None:
        try:
            super().observe(amount, exemplar)
        except Exception as exc:  # noqa: BLE001
            _failed(self, exc)
