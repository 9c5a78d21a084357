"""Running rag_core's own HTTP servers (the mock LLM, the local model server) with uvicorn:
in the foreground for the CLI, or on a free loopback port in a daemon thread for tests and
notebooks."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from typing import Any


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_foreground(app: Any, host: str, port: int) -> None:
    """Serve ``app`` until interrupted (one process, one event loop)."""
    import uvicorn

    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False,
                timeout_graceful_shutdown=2)


def start_in_thread(app: Any, name: str, timeout_s: float = 15.0
                    ) -> tuple[str, Callable[[], None]]:
    """Serve ``app`` on a free loopback port in a daemon thread; wait until ``/health``
    answers. Returns the base URL (no ``/v1``) and a function that stops the server."""
    import httpx
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           access_log=False, timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, name=f"{name}-{port}", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"

    def stop() -> None:
        server.should_exit = True
        thread.join(timeout=10)

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if httpx.get(f"{url}/health", timeout=0.5).status_code == 200:
                return url, stop
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or not thread.is_alive():
            stop()
            raise RuntimeError(f"the {name} server did not start")
        time.sleep(0.02)
