"""When a request's bytes reached the worker (issue 82): uvicorn's HTTP protocol, stamped.

A burst's requests are read in one turn of the worker's event loop: each read parses a request
and queues a task to run the app for it. The tasks then run one after another, each until its
first wait, so the last of a burst of a hundred reaches the app (and ``api.context``'s stamp)
only after the first steps of the 99 before it. That wait is the service's, not the
client's, yet the loop's lag probe (``limits.loop_lag``) does not see it: the probe measures
one turn of the loop, and the wait is spread over many.

:data:`Protocol` is the protocol uvicorn would pick itself (``http="auto"``: httptools when
installed, else h11) with one change: when a read begins a request, the request's scope
carries the time of that read as ``state["arrived"]`` (:data:`ARRIVED`). ``rag-core serve``
runs uvicorn with it; under another server ``api.context`` stamps the arrival at the app's
edge instead. A question's deadline for a work slot counts from it (``limits.shedding``), and
``Server-Timing``'s ``queue`` reports the wait to the caller (``api.edge_shed``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import MutableMapping
from typing import Any

from uvicorn.protocols.http.auto import AutoHTTPProtocol

ARRIVED = "arrived"  # the request's ``scope["state"]`` key (``request.state.arrived``)
PROTOCOL = "rag_core.api.received:Protocol"  # uvicorn's ``http`` setting


def _stamped(base: type[asyncio.Protocol]) -> type[asyncio.Protocol]:
    def data_received(self: Any, data: bytes) -> None:
        now = time.perf_counter()
        before = getattr(self, "scope", None)
        base.data_received(self, data)  # type: ignore[attr-defined]
        # a request began in this read: its scope is new (with pipelined requests in one
        # read, only the last is stamped; the others keep the edge's stamp)
        scope = getattr(self, "scope", None)
        if scope is not None and scope is not before:
            scope.setdefault("state", {}).setdefault(ARRIVED, now)

    return type(f"Stamped{base.__name__}", (base,), {"data_received": data_received,
                                                    "__module__": __name__})


Protocol = _stamped(AutoHTTPProtocol)


def arrived(scope: MutableMapping[str, Any], now: float) -> float:
    """When the request reached the worker: the protocol's stamp, else ``now`` (stored, so
    that every later reader sees the same time)."""
    state: dict[str, Any] = scope.setdefault("state", {})
    return float(state.setdefault(ARRIVED, now))


__all__ = ["ARRIVED", "PROTOCOL", "Protocol", "arrived"]
