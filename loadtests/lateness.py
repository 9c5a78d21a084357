"""Whose time a request's latency is (issue 82): the service's, or the load generator's own.

A load generator that shares the machine's cores with the service can be late itself: a
greenlet whose response has arrived waits its turn on the generator's loop, and its measured
latency grows by that wait. Two figures per request tell the parts apart:

- ``server_timing``: the service's ``Server-Timing`` reply header (``api.edge_shed``): ``app``,
  the time from the service's edge to its response (``server_ms``), and ``lag``, how late the
  service's event loop ran when the request arrived (``server_lag_ms``);
- ``Lateness``: the same lag of the generator's own gevent loop (``loadgen_lag_ms``), measured
  by a greenlet that sleeps ``every_s`` and notes how late it woke; between wake-ups, how
  overdue the next one is already.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping
from typing import Any

FIELDS = {"app": "server_ms", "lag": "server_lag_ms"}


def server_timing(headers: Mapping[str, Any]) -> dict[str, float]:
    """``{"server_ms": ..., "server_lag_ms": ...}`` from a ``Server-Timing`` header (either
    missing: left out)."""
    text = next((str(v) for k, v in headers.items() if str(k).lower() == "server-timing"), "")
    out: dict[str, float] = {}
    for metric in text.split(","):
        name, _, rest = metric.strip().partition(";")
        for param in rest.split(";"):
            key, _, value = param.strip().partition("=")
            if key == "dur" and name in FIELDS:
                with contextlib.suppress(ValueError):
                    out[FIELDS[name]] = float(value)
    return out


class Lateness:
    """The generator's loop lag (seconds); ``run`` in a greenlet of its own."""

    def __init__(self, every_s: float = 0.05) -> None:
        self.every_s = every_s
        self.measured = 0.0
        self.due: float | None = None

    def lag(self) -> float:
        if self.due is None:
            return 0.0
        return max(self.measured, time.perf_counter() - self.due)

    def run(self) -> None:
        import gevent

        self.due = time.perf_counter() + self.every_s
        while True:
            gevent.sleep(max(0.0, self.due - time.perf_counter()))
            now = time.perf_counter()
            self.measured, self.due = max(0.0, now - self.due), now + self.every_s

    def fields(self) -> dict[str, float]:
        return {"loadgen_lag_ms": round(self.lag() * 1000, 1)}


__all__ = ["FIELDS", "Lateness", "server_timing"]
