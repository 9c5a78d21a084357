"""Running rag_core's own HTTP servers (the mock LLM, the local model server) with uvicorn:
in the foreground for the CLI, or on a free loopback port in a daemon thread for tests and
notebooks."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from rag_core.procs import free_port, http_ok, wait_until


def run_foreground(app: Any, host: str, port: int) -> None:
    """Serve ``app`` until interrupted (one process, one event loop)."""
    import uvicorn

    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False,
                timeout_graceful_shutdown=2)


def start_in_thread(app: Any, name: str, timeout_s: float = 15.0
                    ) -> tuple[str, Callable[[], None]]:
    """Serve ``app`` on a free loopback port in a daemon thread; wait until ``/health``
    answers. Returns the base URL (no ``/v1``) and a function that stops the server."""
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

    try:
        wait_until(lambda: http_ok(f"{url}/health", timeout=0.5), timeout_s, f"the {name} server",
                   alive=thread.is_alive)
    except (TimeoutError, RuntimeError) as exc:
        stop()
        raise RuntimeError(f"the {name} server did not start") from exc
    return url, stop
