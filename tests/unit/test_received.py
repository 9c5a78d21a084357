"""``api.received``: uvicorn's protocol stamps each request with the time it reached the
machine (the worker's read, less how long the kernel held it), before the requests read with it
run their first steps (issue 82), and ``rag-core serve`` runs uvicorn with it."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from typing import Any

import pytest
import uvicorn

from rag_core.api import received
from rag_core.procs import free_port

SLOW_FIRST_STEP_S = 0.05
HELD_S = 0.2
JIFFY_S = 0.011  # the kernel's TCP_INFO counts in ticks (a tick is at most 10 ms)
LINUX = pytest.mark.skipif(not hasattr(socket, "TCP_INFO"), reason="TCP_INFO is Linux's")


def _app(seen: list[tuple[str, float, float]], loops: list[asyncio.AbstractEventLoop]) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        start = time.perf_counter()
        loops.append(asyncio.get_running_loop())
        seen.append((scope["path"], scope["state"].get(received.ARRIVED, -1.0), start))
        if scope["path"] == "/slow":
            time.sleep(SLOW_FIRST_STEP_S)  # a first step that holds the loop: a lower bound
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})
    return app


def _wait(check: Any, what: str, bound_s: float = 60.0) -> None:
    """Poll ``check`` until it holds; the bound only stops a broken server hanging the test."""
    end = time.monotonic() + bound_s
    while not check():
        if time.monotonic() > end:
            raise AssertionError(f"never {what}")
        time.sleep(0.005)


@pytest.fixture(params=["auto", "h11"])
def server(request: pytest.FixtureRequest) -> Any:
    """uvicorn with the stamped protocol: the one ``serve`` names (httptools here), and h11's
    (what uvicorn picks where httptools is not installed)."""
    seen: list[tuple[str, float, float]] = []
    loops: list[asyncio.AbstractEventLoop] = []
    http: str | type[asyncio.Protocol] = received.PROTOCOL
    if request.param == "h11":
        from uvicorn.protocols.http.h11_impl import H11Protocol

        http = received.stamped(H11Protocol)
    config = uvicorn.Config(_app(seen, loops), host="127.0.0.1", port=free_port(), lifespan="off",
                            http=http, log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    _wait(lambda: srv.started, "started")
    with socket.create_connection(("127.0.0.1", config.port)) as warm:  # the server's loop
        warm.sendall(b"GET /warm HTTP/1.1\r\nHost: t\r\n\r\n")
        assert warm.recv(1024).startswith(b"HTTP/1.1 200")
    _wait(lambda: not srv.server_state.connections, "closed the warm-up connection")
    seen.clear()
    yield srv, seen, loops[0]
    srv.should_exit = True
    thread.join(timeout=30)


@LINUX
def test_requests_carry_the_time_they_reached_the_machine_not_their_turn(server: Any) -> None:
    """Two requests whose bytes wait in the kernel while the worker's loop is held, then are
    read in one turn: the second reaches the app only after the first's slow first step, yet
    its arrival is the time its bytes reached the machine."""
    srv, seen, loop = server
    port = srv.config.port
    conns = [socket.create_connection(("127.0.0.1", port)) for _ in range(2)]
    _wait(lambda: len(srv.server_state.connections) == 2, "accepted both connections")
    blocked, release = threading.Event(), threading.Event()

    def hold() -> None:  # runs on the server's loop: nothing is read until released
        blocked.set()
        release.wait(30)

    loop.call_soon_threadsafe(hold)
    assert blocked.wait(30)
    for conn, path in zip(conns, ("/slow", "/next"), strict=True):
        conn.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
    sent = time.perf_counter()  # the machine's monotonic clock, as the server's
    time.sleep(HELD_S)  # the bytes wait in the kernel at least this long
    release.set()
    for conn in conns:
        assert conn.recv(1024).startswith(b"HTTP/1.1 200")
        conn.close()
    (first, arrived_1, start_1), (second, arrived_2, start_2) = seen
    assert (first, second) == ("/slow", "/next")
    assert 0 < arrived_1 <= start_1 and 0 < arrived_2 <= start_1  # both read before either ran
    # the arrival is when the kernel had the bytes, not when the held loop read them ...
    assert arrived_2 <= sent + JIFFY_S
    # ... so the wait in the kernel and the wait behind the first's step both count
    assert start_2 - arrived_2 >= HELD_S + SLOW_FIRST_STEP_S - JIFFY_S


def test_the_kernels_hold_is_read_only_where_it_can_be() -> None:
    assert received.held_by_kernel(None) == 0.0
    left, right = socket.socketpair()  # a Unix socket: no TCP_INFO
    with left, right:
        assert received.held_by_kernel(left) == 0.0


def test_the_edge_stamps_a_request_no_protocol_stamped() -> None:
    scope: dict[str, Any] = {"type": "http"}
    assert received.arrived(scope, 12.5) == 12.5
    assert received.arrived(scope, 99.0) == 12.5  # every later reader sees the same time
    stamped = {"state": {received.ARRIVED: 3.0}}
    assert received.arrived(stamped, 7.0) == 3.0


def test_serve_runs_uvicorn_with_the_stamped_protocol(monkeypatch: pytest.MonkeyPatch) -> None:
    from rag_core import services
    from rag_core.cli import main as cli

    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: seen.update(kwargs))
    monkeypatch.setattr(services, "ensure_services", lambda settings: settings)
    monkeypatch.setenv("RAG_PROFILE", "dev")
    assert cli.main(["serve", "--port", "8123"]) == 0
    assert seen["http"] == received.PROTOCOL
    from uvicorn.importer import import_from_string
    from uvicorn.protocols.http.auto import AutoHTTPProtocol

    proto = import_from_string(seen["http"])  # as each worker loads it
    assert proto is received.Protocol and issubclass(proto, AutoHTTPProtocol)
