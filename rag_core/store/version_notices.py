"""The note changes PostgreSQL announces on commit (LISTEN/NOTIFY), as they happen.

A note change's transaction records the version it owes to Redis (``version_debts``) and, in
the same transaction, notifies ``sql.ledger.VERSION_DEBTS_CHANNEL`` with ``version:user_id``;
PostgreSQL delivers that only when the transaction commits, to every session listening then.
:func:`listen` keeps one such session of its own (autocommit, outside the pool: it is held
for as long as the process polls the debts) and hands each notice to ``heard``. When the
connection drops it opens another after a growing pause; whatever was announced meanwhile is
not replayed, which is why the debts are still polled (``rag_core.cache.versions``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg

from rag_core.store import sql as q
from rag_core.store.pool import Conn
from rag_core.telemetry import logs

log = logging.getLogger("rag_core.store")

WAIT_S = 1.0  # the longest wait for a notice before the stop flag is looked at again
FIRST_PAUSE_S = 0.1  # before reconnecting after a drop; doubled per failure up to MAX_PAUSE_S
MAX_PAUSE_S = 5.0


@dataclass(frozen=True)
class VersionNotice:
    user_id: str
    version: int  # the user's notes version the committed change left


def parse(payload: str) -> VersionNotice | None:
    """``version:user_id`` (user ids may hold ':'; versions never do); None if malformed."""
    version, sep, user_id = payload.partition(":")
    if not sep or not user_id or not version.isdigit():
        return None
    return VersionNotice(user_id, int(version))


class PgVersionNotices:
    """Opens listening sessions on the primary (its URL and the pool's connect options)."""

    def __init__(self, url: str, connect_kwargs: dict[str, Any]) -> None:
        self.url = url
        self.connect_kwargs = connect_kwargs

    def session(self) -> Conn:
        conn = psycopg.connect(self.url, autocommit=True, **self.connect_kwargs)
        conn.execute(q.LISTEN_VERSIONS)
        return conn


def listen(notices: PgVersionNotices, heard: Callable[[VersionNotice], None],
           stop: threading.Event, alive: Callable[[], bool] = lambda: True,
           session: Callable[[int | None], None] = lambda _pid: None) -> None:
    """Hand every notice to ``heard`` until ``stop`` is set or ``alive`` says its owner is
    gone (looked at least every ``WAIT_S``). ``session`` is told the PostgreSQL backend of
    each session once it listens, and None when it is lost."""
    pause = FIRST_PAUSE_S
    warned = -1e9
    while not stop.is_set() and alive():
        try:
            with notices.session() as conn:
                pause = FIRST_PAUSE_S
                session(conn.info.backend_pid)
                while not stop.is_set() and alive():
                    for notify in conn.notifies(timeout=WAIT_S):
                        notice = parse(notify.payload)
                        if notice is not None:
                            heard(notice)
            session(None)
            return
        except psycopg.Error as exc:
            session(None)
            # once per 30 s, not per attempt; nothing when the owner closed it on purpose
            if not stop.is_set() and time.monotonic() - warned >= 30:
                warned = time.monotonic()
                logs.log_event(log, logging.WARNING, "notes version notices not heard; "
                               "listening again (the debts' poll covers the gap)",
                               error=type(exc).__name__)
        if stop.wait(pause):
            return
        pause = min(pause * 2, MAX_PAUSE_S)
