"""What ``rag-core serve`` says about itself: its URL at once, then when it is ready.

The workers load the embedding model and check the LLM before uvicorn accepts requests, which
takes seconds; until then an operator saw nothing. The serving process logs where it will
listen before anything starts, and a daemon thread asks the service's own ``/readyz`` (as a
gateway would) until it answers 200, then logs that it is ready and how long it took. A
service that answers but is not ready (``/readyz`` 503, e.g. the LLM refuses its token) is
logged once with what fails, and the thread keeps asking.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import httpx

from rag_core.telemetry import logs

log = logging.getLogger("rag_core.serve")

_ANY = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}


def local_url(host: str, port: int) -> str:
    """The URL that reaches the service from this machine (a wildcard host is the loopback)."""
    host = _ANY.get(host, host)
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def announce_start(host: str, port: int, workers: int, profile: str) -> str:
    url = local_url(host, port)
    logs.log_event(log, logging.INFO, f"rag-core serve starting on {url}", url=url,
                   listen=f"{host}:{port}", workers=workers, profile=profile)
    return url


def watch_ready(url: str, *, every_s: float = 0.25,
                clock: Callable[[], float] = time.monotonic) -> threading.Thread:
    """Start the daemon thread that logs readiness (it ends once ready)."""
    thread = threading.Thread(target=_watch, args=(url, every_s, clock), daemon=True,
                              name="rag-core-ready")
    thread.start()
    return thread


def _watch(url: str, every_s: float, clock: Callable[[], float]) -> None:
    start = clock()
    told_not_ready = False
    with httpx.Client(timeout=5) as http:
        while True:
            try:
                r = http.get(f"{url}/readyz")
            except httpx.HTTPError:
                time.sleep(every_s)
                continue
            seconds = round(clock() - start, 1)
            if r.status_code == 200:
                logs.log_event(log, logging.INFO, f"rag-core serve ready on {url}", url=url,
                               seconds=seconds, status=_field(r, "status"))
                return
            if not told_not_ready:
                told_not_ready = True
                logs.log_event(log, logging.WARNING, f"rag-core serve answers on {url} but is "
                               "not ready (see /readyz)", url=url, seconds=seconds,
                               failing=_field(r, "failing"))
            time.sleep(every_s)


def _field(r: httpx.Response, name: str) -> object:
    try:
        return r.json().get(name)
    except ValueError:
        return None
