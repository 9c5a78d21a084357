"""``benchmarks/tracing_requests.Asgi``: every turn of a run asks the app on one event loop through
one client (a loop made anew each turn added its own cost to a turn's first request), and its
times come back by kind."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from tracing_requests import Asgi, plan  # noqa: E402 (benchmarks/, put on the path)


class Seen:
    """An ASGI app that answers as the service does for the benchmark's questions (a new one, with
    its tag in brackets, misses), and notes the event loop of each request."""

    def __init__(self) -> None:
        self.loops: list[int] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.loops.append(id(asyncio.get_running_loop()))
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        asked = json.loads(body)["query"]
        answer = json.dumps({"cache": {"query": "miss" if "(" in asked else "hit"}}).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": answer})


def test_every_turn_runs_on_one_loop_and_comes_back_by_kind() -> None:
    app = Seen()
    with Asgi(app, {}) as measure:
        first = measure(plan(1, 3))
        second = measure([None, *plan(2, 4)])
        client = measure.client
    assert [len(first[kind]) for kind in ("miss", "hit", "miss cpu", "hit cpu")] == [1, 3, 1, 3]
    assert [len(second[kind]) for kind in ("miss", "hit")] == [2, 4]  # the warming ask: not timed
    assert len(app.loops) == 4 + 7 and len(set(app.loops)) == 1
    assert all(ms > 0 for ms in first["hit"])
    assert client.is_closed  # closed with the run


def test_a_coroutine_runs_on_the_same_loop() -> None:
    app = Seen()

    async def loop_id() -> int:
        return id(asyncio.get_running_loop())

    with Asgi(app, {}) as measure:
        measure([None])
        assert measure.run(loop_id()) == app.loops[0]
