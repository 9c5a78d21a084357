"""A mock LLM server that speaks the OpenAI chat-completions protocol, with fault injection.

Its answer is deterministic: the first sentence of each numbered note in the prompt, each cited
``[n]``, so RAG tests see real citations; usage is counted with the project's tokenizer. With
``--obey`` it is the obedient adversary instead (``rag_core.devservers.obey``): it does what any
instruction anywhere in its messages asks, which measures what the service's own defences stop.
Faults are settable at start (``rag-core mock-llm --latency-ms 3500 --error-rate 0.1``) and at
run time (``POST /admin/config`` with a partial config, ``POST /admin/outage {"seconds": 20}``);
``GET /admin/stats`` counts what it received and ``POST /admin/reset`` zeroes the counters.

It runs as one process (one event loop), so its counters are exact; do not run it with several
uvicorn workers. The parts: ``mock_config`` (config and state), ``openai_protocol`` (wire
shapes, shared with the local model server), ``mock_app`` (the app), ``obey`` (the adversary);
this module runs it and holds the small admin client.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import fields
from typing import Any

from fastapi import FastAPI

from rag_core.devservers.mock_app import NO_ANSWER, create_mock_app, mock_answer
from rag_core.devservers.mock_config import MockConfig, MockState, add_mock_args
from rag_core.devservers.serving import run_foreground, start_in_thread

__all__ = ["NO_ANSWER", "MockConfig", "MockLLM", "MockState", "add_mock_args",
           "config_from_args", "configure_mock", "create_mock_app", "mock_answer", "mock_stats",
           "reset_mock", "serve_mock", "start_mock", "start_outage"]


# --- running it -----------------------------------------------------------------------------


def config_from_args(ns: argparse.Namespace) -> dict[str, Any]:
    """The MockConfig fields among parsed arguments, for ``serve_mock(**config)``."""
    names = {f.name for f in fields(MockConfig)}
    return {k: v for k, v in vars(ns).items() if k in names}


def serve_mock(port: int, host: str = "127.0.0.1", **config: Any) -> None:
    """Run the mock in the foreground until interrupted."""
    run_foreground(create_mock_app(MockConfig(**config)), host, port)


def start_mock(*, clock: Callable[[], float] = time.monotonic,
               **config: Any) -> tuple[str, Callable[[], None], FastAPI]:
    """Start the mock on a free loopback port in a daemon thread; wait until /health answers.

    Returns the base URL (without ``/v1``), a function that stops it, and the app. ``clock``
    (seconds) drives its outages."""
    app = create_mock_app(MockConfig(**config), clock=clock)
    url, stop = start_in_thread(app, "mock-llm")
    return url, stop, app


@contextmanager
def MockLLM(**config: Any) -> Iterator[tuple[str, FastAPI]]:  # noqa: N802 (reads like a class)
    """``with MockLLM(latency_ms=50) as (url, app):`` the mock runs on ``url`` (no ``/v1``);
    ``app.state.mock`` holds its live config and counters."""
    url, stop, app = start_mock(**config)
    try:
        yield url, app
    finally:
        stop()


# --- small admin client (tests, notebooks, load tests) ---------------------------------------


def mock_stats(url: str) -> dict[str, Any]:
    import httpx

    return dict(httpx.get(f"{url}/admin/stats", timeout=5).json())


def configure_mock(url: str, **changes: Any) -> dict[str, Any]:
    import httpx

    response = httpx.post(f"{url}/admin/config", json=changes, timeout=5)
    response.raise_for_status()
    return dict(response.json())


def start_outage(url: str, seconds: float) -> None:
    import httpx

    httpx.post(f"{url}/admin/outage", json={"seconds": seconds}, timeout=5).raise_for_status()


def reset_mock(url: str) -> None:
    import httpx

    httpx.post(f"{url}/admin/reset", timeout=5).raise_for_status()
