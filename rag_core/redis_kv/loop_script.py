"""A Redis script run from the event loop, in the request's own task
(``cache.versioned_read``'s ``aget``: the exact lookup of ``POST /v1/query``).

A read in a worker thread costs the app a hop (a thread woken, then the loop woken again) on top
of its round trip: on a busy host each wake-up waits for a core. Here the script runs on a
connection of the same server opened in the loop itself. This module is only the transport:
what the reply means is decided by its caller, for the loop and the thread alike.

The script goes over redis-py's asyncio ``Connection`` itself, not through a client: the
client's pool, retry and observability wrappers and its per-command ``wait_for`` (a task of its
own for every send) cost more than the round trip (``benchmarks/bench_app.py``). Each loop
keeps its idle connections (``Links``); a request takes one, or opens one when none is idle
(concurrent requests never share a connection), and gives it back only after a whole reply was
read: a connection left mid-reply (an error, a timeout, a cancelled request) is closed. The
trip is bounded by one deadline (``fixed.REDIS_TIMEOUT_S``), the connection's opening
included; after a failed trip the caller's own (threaded) way is used for ``REST_S``. Every new
connection reports the server's ``run_id`` to the sync client's watch (``redis_kv.restarts``),
so a restarted Redis is noticed by whichever client meets it.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rag_core.config import fixed
from rag_core.redis_kv.client import REDIS_ERRORS
from rag_core.redis_kv.restarts import url_of, watch_of

if TYPE_CHECKING:
    from redis.asyncio import ConnectionPool
    from redis.asyncio.connection import AbstractConnection

REST_S = 5.0  # after a failed trip, the caller's own way only for this long (one timeout, not two)
MAX_LOOPS = 8  # loops whose connections are kept (one per event loop; tests run many loops)
MAX_IDLE = 8  # idle connections kept per loop (more are opened under concurrency, then closed)
_FAILED: tuple[type[BaseException], ...] = (*REDIS_ERRORS, OSError, TimeoutError)


def packed(*args: str | bytes | int) -> bytes:
    """One command in the Redis protocol (an array of bulk strings)."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        raw = arg if isinstance(arg, bytes) else str(arg).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(raw), raw))
    return b"".join(parts)


class Links:
    """The connections of one event loop to the server: those idle, and how to open one."""

    def __init__(self, loop: asyncio.AbstractEventLoop, pool: ConnectionPool) -> None:
        self.loop = loop
        self.pool = pool  # only makes connections (never hands them out)
        self.idle: list[AbstractConnection] = []

    def take(self) -> AbstractConnection:
        return self.idle.pop() if self.idle else self.pool.make_connection()

    async def give_back(self, connection: AbstractConnection, whole: bool) -> None:
        """An idle connection kept for the next hit; closed when its reply was not read whole
        (no await before the socket is closed: a cancelled request still closes it)."""
        if whole and len(self.idle) < MAX_IDLE:
            self.idle.append(connection)
        else:
            await connection.disconnect(nowait=True)


class LoopScript:
    """One script, run on the connections of whichever event loop calls ``run``."""

    def __init__(self, client: object, script: str, url: str) -> None:
        self.script = script
        self.url = url
        self.watch = watch_of(client)
        self.sha = hashlib.sha1(script.encode()).hexdigest()  # as EVALSHA names it
        self._links: dict[int, Links] = {}
        self._rest_until = 0.0

    @classmethod
    def of(cls, client: object, script: str) -> LoopScript | None:
        """The loop's runner of ``script`` on ``client``'s server (None for a client whose URL
        is not known)."""
        url = url_of(client)
        return cls(client, script, url) if url else None

    async def run(self, *args: str | bytes | int) -> list[bytes | str | None] | None:
        """The script's reply to ``args`` (EVALSHA's numkeys first); None when the trip failed,
        or after one failed, for ``REST_S``."""
        if time.monotonic() < self._rest_until:
            return None
        try:
            async with asyncio.timeout(fixed.REDIS_TIMEOUT_S):
                reply = await self._call(args)
        except _FAILED:
            self._rest_until = time.monotonic() + REST_S
            return None
        return list(reply)

    async def _call(self, args: Sequence[str | bytes | int]) -> Any:
        """The script's reply on one of this loop's connections (loaded once more when the
        server forgot it: a restart, or ``SCRIPT FLUSH``)."""
        from redis.exceptions import NoScriptError

        links = self._links_of_loop()
        connection = links.take()
        whole = False
        try:
            if not connection.is_connected:
                await connection.connect()
            try:
                await connection.send_packed_command(packed("EVALSHA", self.sha, *args),
                                                     check_health=False)
                reply = await connection.read_response()
            except NoScriptError:  # a whole reply (an error): the connection is still good
                await connection.send_packed_command(packed("EVAL", self.script, *args),
                                                     check_health=False)
                reply = await connection.read_response()
            whole = True
            return reply
        finally:
            await links.give_back(connection, whole)

    def _links_of_loop(self) -> Links:
        loop = asyncio.get_running_loop()
        found = self._links.get(id(loop))
        if found is None or found.loop is not loop:
            import redis.asyncio  # here: the CLI and the harness never need it

            if len(self._links) >= MAX_LOOPS:
                self._links.clear()
            # no socket timeout: the caller's one deadline bounds the trip (a timeout per send
            # made redis-py wrap every send in a task of its own)
            pool = redis.asyncio.ConnectionPool.from_url(
                self.url, socket_connect_timeout=fixed.REDIS_TIMEOUT_S,
                redis_connect_func=(self.watch.on_connect_async if self.watch is not None
                                    else None))
            found = self._links[id(loop)] = Links(loop, pool)
        return found
