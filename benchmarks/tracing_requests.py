"""The requests ``bench_tracing.py`` asks and how it times them: a miss (a new question about
one of a few topics of the golden notes) or a hit (the one warmed question), spread by ``plan``,
asked in process through one event loop and client (``Asgi``) or over HTTP (``over_http``), and
the times by kind (``by_kind``)."""

from __future__ import annotations

import asyncio
import random
import string
import sys
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tracing_report import KINDS  # noqa: E402 (this folder, put on the path)

QUESTION = "What did Pastor Okafor say about faith and Abraham?"
TOPICS = ("Abraham leaving Haran", "Noah building under a clear sky", "running with endurance",
          "the great cloud of witnesses", "a high priest who understands", "faith that waits")
T = TypeVar("T")


def tag() -> str:
    """Letters and digits (as tests/tags.py): a new question each time, the same request."""
    return "".join(random.choice(string.ascii_lowercase) + random.choice(string.digits)
                   for _ in range(4))


def question(miss: bool | None, topics: random.Random | None = None) -> str:
    """The cached question, or a new one about a topic ``topics`` picks (by default the
    module's generator; one seeded alike in two modes asks them the same topics)."""
    return (f"What did Okafor say about {(topics or random).choice(TOPICS)}? ({tag()})" if miss
            else QUESTION)


def plan(misses: int, hits: int) -> list[bool | None]:
    """Which requests of a round are misses: spread evenly among the hits."""
    every = max(1, hits // max(1, misses))
    order: list[bool | None] = []
    for n in range(misses + hits):
        order.append(n % (every + 1) == 0 and order.count(True) < misses)
    return order


def checked(r: httpx.Response, miss: bool | None) -> None:
    """An answer, as expected: a miss, a hit (None: the warming ask)."""
    assert r.status_code == 200, r.text
    if miss is not None:
        outcome = r.json()["cache"]["query"]
        assert outcome == ("miss" if miss else "hit"), outcome


def by_kind(order: list[bool | None], wall: list[float], cpu: list[float], turn_ms: float
            ) -> dict[str, list[float]]:
    """The milliseconds of a round by kind: ``miss``, ``hit`` (the wall clock) and ``miss
    cpu``, ``hit cpu`` (CPU time of the app's process, every thread, while it answered) and
    ``turn cpu``: the CPU the app's process (every thread, the SDK's export thread too) used
    over the whole turn, between requests too, per request (one figure a turn)."""
    found: dict[str, list[float]] = {kind: [] for kind in KINDS}
    found["turn cpu"].append(turn_ms / max(1, sum(m is not None for m in order)))
    for miss, ms, cpu_ms in zip(order, wall, cpu, strict=True):
        if miss is not None:
            found["miss" if miss else "hit"].append(ms)
            found["miss cpu" if miss else "hit cpu"].append(cpu_ms)
    return found


async def in_process(client: httpx.AsyncClient, headers: dict[str, str],
                     order: list[bool | None], pace_s: float = 0.0) -> dict[str, list[float]]:
    """The requests of ``order`` through the app in process (``client``: ``Asgi``'s), timed
    (``by_kind``), ``pace_s`` apart."""
    wall: list[float] = []
    cpu: list[float] = []
    begun = time.process_time()
    for miss in order:
        body = {"query": question(miss)}
        start, used = time.perf_counter(), time.process_time()
        r = await client.post("/v1/query", json=body, headers=headers)
        wall.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - used) * 1000)
        checked(r, miss)
        if pace_s:
            await asyncio.sleep(pace_s)
    return by_kind(order, wall, cpu, (time.process_time() - begun) * 1000)


class Asgi:
    """The app in process, each order measured (``measure(order)``: ``in_process``'s times)
    through one event loop and one client for the whole run, as a served worker keeps its loop
    and a client its connection. With a loop and a client made anew for each turn, a turn's
    first request (a miss, ``plan``) took about 3 ms more than the others (a median of
    33.2-33.8 ms against 30.0-30.5, 60 rounds): a tail of the benchmark's own in each mode's
    misses."""

    def __init__(self, app: Any, headers: dict[str, str], pace_s: float = 0.0) -> None:
        self.headers, self.pace_s = headers, pace_s
        self.runner = asyncio.Runner()
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                        base_url="http://bench")

    def __enter__(self) -> Asgi:
        return self

    def __exit__(self, *exc: object) -> None:
        self.runner.run(self.client.aclose())
        self.runner.close()

    def __call__(self, order: list[bool | None]) -> dict[str, list[float]]:
        return self.run(in_process(self.client, self.headers, order, self.pace_s))

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        """``work`` run to its end on the loop."""
        return self.runner.run(work)


def over_http(client: httpx.Client, headers: dict[str, str], order: list[bool | None],
              pace_s: float = 0.0) -> dict[str, list[float]]:
    """The same through the uvicorn server (``client``: kept alive, on loopback); the CPU
    time is the server's, as it counted it for each request (``tracing_modes.switchable``)."""
    wall: list[float] = []
    for miss in order:
        body = {"query": question(miss)}
        start = time.perf_counter()
        r = client.post("/v1/query", json=body, headers=headers)
        wall.append((time.perf_counter() - start) * 1000)
        checked(r, miss)
        if pace_s:
            time.sleep(pace_s)
    cpu = client.post("/bench/cpu").json()
    return by_kind(order, wall, cpu["each"], cpu["turn_ms"])
