"""Whose time a request's latency is (issue 82): the service's, or the load generator's own.

A load generator that shares the machine's cores with the service can be late itself: a
greenlet whose response has arrived waits its turn on the generator's loop, and its measured
latency grows by that wait. Two figures per request tell the parts apart:

- ``server_timing``: the service's ``Server-Timing`` reply header (``api.edge_shed``): ``app``,
  the time from the service's edge to its response (``server_ms``), ``lag``, how late the
  service's event loop ran when the request arrived (``server_lag_ms``), and ``queue``, the time
  from the request's arrival at the service's machine to the edge (``server_queue_ms``);
- ``Lateness``: the same lag of the generator's own gevent loop (``loadgen_lag_ms``), measured
  by a greenlet that sleeps ``every_s`` and notes how late it woke; between wake-ups, how
  overdue the next one is already. A request's line carries the worst of it over the request's
  flight: a reply that waited for the generator's loop at any time between the request's
  start and its end was late by the generator, not by the service.
"""

from __future__ import annotations

import contextlib
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

FIELDS = {"app": "server_ms", "lag": "server_lag_ms", "queue": "server_queue_ms"}


def server_timing(headers: Mapping[str, Any]) -> dict[str, float]:
    """``{"server_ms": ..., "server_lag_ms": ..., "server_queue_ms": ...}`` from a
    ``Server-Timing`` header (any missing: left out)."""
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

    def __init__(self, every_s: float = 0.05, clock: Callable[[], float] = time.perf_counter,
                 keep: int = 4096) -> None:
        self.every_s = every_s
        self.clock = clock
        self.measured = 0.0
        self.due: float | None = None
        self.wakes: deque[tuple[float, float]] = deque(maxlen=keep)  # (woke at, how late)

    def lag(self) -> float:
        if self.due is None:
            return 0.0
        return max(self.measured, self.clock() - self.due)

    def woke(self, now: float) -> None:
        """The sleeper woke at ``now``: how late, against when it was due."""
        if self.due is not None:
            self.measured = max(0.0, now - self.due)
            self.wakes.append((now, self.measured))
        self.due = now + self.every_s

    def run(self) -> None:
        import gevent

        self.due = self.clock() + self.every_s
        while True:
            gevent.sleep(max(0.0, self.due - self.clock()))
            self.woke(self.clock())

    def worst_over(self, flight_s: float) -> float:
        """The loop's worst lag within the last ``flight_s`` seconds: of each wake-up since
        then, the part of its lateness inside that time, and how overdue the next one is now."""
        now = self.clock()
        since = now - flight_s
        worst = max(0.0, now - self.due) if self.due is not None else 0.0
        for at, late in reversed(self.wakes):
            if at <= since:
                break
            worst = max(worst, min(late, at - since))
        return worst

    def fields(self, flight_s: float = 0.0) -> dict[str, float]:
        return {"loadgen_lag_ms": round(self.worst_over(flight_s) * 1000, 1)}


__all__ = ["FIELDS", "Lateness", "server_timing"]
