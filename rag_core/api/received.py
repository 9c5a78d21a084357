"""When a request reached the service (issue 82): uvicorn's HTTP protocol, stamped.

Two waits come before the app sees a request, and neither shows in the worker's loop lag
(``limits.loop_lag``), which measures one turn of the loop while these spread over many:

- a new connection waits in the kernel's accept queue. Under uvloop a burst of new
  connections was accepted one at a time, each after the first step of the request accepted
  before it: 160 connections made at once to two workers whose first step took 1.5 ms, the
  last accepted about 150 ms after its client began (docs/benchmarks.md, "Where the onset's time
  went");
- a request read with others waits for their first steps: each read queues a task to run the
  app, and the tasks run one after another until their first wait.

:data:`Protocol` is the protocol uvicorn would pick itself (``http="auto"``: httptools when
installed, else h11) with one change: when a read begins a request, the request's scope
carries the time the request reached the machine as ``state["arrived"]`` (:data:`ARRIVED`):
the read's time less how long the kernel has held the connection's last data (Linux's
``TCP_INFO``, ``tcpi_last_data_recv``, in milliseconds counted from the kernel's ticks, so it
may read up to about a tick long: the arrival then errs early, by up to 15 ms in the spike
runs; elsewhere, the read's time).
``rag-core serve`` runs uvicorn with it; under another server ``api.context`` stamps the
arrival at the app's edge instead. A question's deadline for a work slot counts from it
(``limits.shedding``), and ``Server-Timing``'s ``queue`` reports the wait (``api.edge_shed``).
"""

from __future__ import annotations

import asyncio
import socket
import struct
import time

from uvicorn.protocols.http.auto import AutoHTTPProtocol

from rag_core.api.asgi import Scope

ARRIVED = "arrived"  # the request's ``scope["state"]`` key (``request.state.arrived``)
PROTOCOL = "rag_core.api.received:Protocol"  # uvicorn's ``http`` setting
_TCP_INFO = getattr(socket, "TCP_INFO", None)  # Linux
_LAST_DATA_RECV = 52  # the offset of ``tcpi_last_data_recv`` (u32, ms) in ``struct tcp_info``


def held_by_kernel(sock: object) -> float:
    """Seconds since the kernel last received data on ``sock`` (a TCP connection on Linux);
    0.0 where it cannot tell (another system, a Unix socket, no socket)."""
    getsockopt = getattr(sock, "getsockopt", None)
    if _TCP_INFO is None or getsockopt is None:
        return 0.0
    try:
        raw = getsockopt(socket.IPPROTO_TCP, _TCP_INFO, _LAST_DATA_RECV + 4)
    except (OSError, TypeError, ValueError):
        return 0.0
    if not isinstance(raw, bytes) or len(raw) < _LAST_DATA_RECV + 4:
        return 0.0
    return float(struct.unpack_from("=I", raw, _LAST_DATA_RECV)[0]) / 1000.0


class _Stamp(asyncio.Protocol):
    """The step added before uvicorn's own protocol (``Protocol``'s first base)."""

    tcp_socket: object = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.tcp_socket = transport.get_extra_info("socket")
        super().connection_made(transport)

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        before = getattr(self, "scope", None)
        super().data_received(data)
        # a request began in this read: its scope is new (with pipelined requests in one
        # read, only the last is stamped; the others keep the edge's stamp)
        scope = getattr(self, "scope", None)
        if scope is not None and scope is not before:
            held = held_by_kernel(self.tcp_socket)
            scope.setdefault("state", {}).setdefault(ARRIVED, now - held)


def stamped(base: type[asyncio.Protocol]) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol ``base`` (httptools' or h11's) with the arrival stamped."""
    return type(f"Stamped{base.__name__}", (_Stamp, base), {"__module__": __name__})


Protocol = stamped(AutoHTTPProtocol)


def arrived(scope: Scope, now: float) -> float:
    """When the request reached the service: the protocol's stamp, else ``now`` (stored, so
    that every later reader sees the same time)."""
    state = scope.setdefault("state", {})
    return float(state.setdefault(ARRIVED, now))


__all__ = ["ARRIVED", "PROTOCOL", "Protocol", "arrived", "held_by_kernel", "stamped"]
