"""Reads on a real streaming replica (tests/pg_replica.py): routing, a replica that lags beyond
the bound, a replica that dies and comes back.

Which server answered is shown by the data, not by our own counters: with replay paused on the
replica, a chunk's text is changed on the primary behind the store's back (no version bump),
so the old text can only come from the replica and the new text only from the primary.
The staleness bound is crossed on a clock the test moves (``ReplicaReads.clock``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import psycopg
import pytest
from fakes import HashEmbedder, ManualClock
from pg_replica import StreamingReplica

from rag_core.config import Retrieval, Settings, fixed
from rag_core.parts import (
    Parts,
    build_caches,
    build_generator,
    build_judges,
    build_ledger,
    build_limiters,
    build_store,
)
from rag_core.store.user_limits import user_limits_for
from rag_core.telemetry.metrics import REGISTRY
from rag_core.tokens import default_counter
from rag_core.types import Note

pytestmark = [pytest.mark.integration]
USER = "ada"
NOTES = [Note(id="n1", title="Walls", body="Nehemiah rebuilt the wall of Jerusalem in 52 "
              "days, a sword in one hand and a trowel in the other."),
         Note(id="n2", title="Patience", body="Abraham waited many years for the promised son; "
              "faith grows in the waiting.")]
QUERY = "who rebuilt the wall of Jerusalem"
DENSE = Retrieval(retrieval_mode="dense")
MAX_LAG_S, CHECK_S, RETRY_S = 5.0, fixed.REPLICA_CHECK_INTERVAL_S, fixed.REPLICA_RETRY_S


@pytest.fixture(scope="module")
def pair(pg_server_url: str) -> Iterator[StreamingReplica]:
    replica = StreamingReplica()
    yield replica
    replica.remove()


@pytest.fixture
def routed(pair: StreamingReplica, settings: Settings) -> Iterator[tuple[Parts, ManualClock, str]]:
    from rag_core.ingest.ingestion import ingest_notes

    name = pair.create_database()
    s = settings.with_overrides(database_url=pair.primary_url(name),
                                database_replica_url=pair.replica_url(name),
                                replica_max_lag_s=MAX_LAG_S, db_pool_timeout_s=1.0)
    store = build_store(s)
    clock = ManualClock()
    store.reads.clock = clock  # type: ignore[attr-defined]
    judges = build_judges(s, store)
    parts = Parts(settings=s, store=store, embedder=HashEmbedder(s.embedding.embedding_dim),
                  caches=build_caches(s, None, judges.semantic), generator=build_generator(s, None),
                  ledger=build_ledger(s, None, store), counter=default_counter(), judges=judges,
                  limiters=build_limiters(s, None, user_limits_for(store)))
    ingest_notes(parts, USER, NOTES, progress=False)
    pair.wait_caught_up()
    yield parts, clock, name
    if not pair.in_recovery():
        pair.start()
    pair.resume_replay()
    parts.close()


def _search(parts: Parts, min_version: int | None = None) -> set[str]:
    vector = parts.embedder.embed([QUERY])[0]
    chunks = parts.store.search(USER, np.asarray(vector), 5, params=DENSE,
                                min_version=min_version)
    return {c.text for c in chunks}


def _diverge(pair: StreamingReplica, name: str, marker: str) -> None:
    """Replay paused, then every chunk's text changed on the primary only."""
    pair.pause_replay()
    with psycopg.connect(pair.primary_url(name), autocommit=True) as conn:
        conn.execute("UPDATE chunks SET text = %s WHERE user_id = %s", (marker, USER))


def _reads(target: str, reason: str) -> float:
    return REGISTRY.get_sample_value("db_reads_total",
                                     {"target": target, "reason": reason}) or 0.0


def test_search_reads_the_replica_and_writes_stay_on_the_primary(
        pair: StreamingReplica, routed: tuple[Parts, ManualClock, str]) -> None:
    parts, _, name = routed
    before = _search(parts)
    assert any("Nehemiah" in t for t in before)
    _diverge(pair, name, "PRIMARY ONLY")
    assert _search(parts) == before  # the replica's copy, replay being paused
    assert parts.store.count_chunks(USER) >= 2
    with psycopg.connect(pair.replica_url(name)) as conn:
        names = {r[0] for r in conn.execute("SELECT application_name FROM pg_stat_activity")}
    assert "rag_core_replica_reads" in names
    # the reads that must see the caller's writes go to the primary: a note written now is
    # listed and counted in the version at once, although the replica is paused
    version = parts.store.notes_version(USER)
    from rag_core.ingest.ingestion import ingest_notes

    ingest_notes(parts, USER, [Note(id="n3", title="New", body="Written while paused.")],
                 progress=False)
    assert parts.store.notes_version(USER) == version + 1
    assert [r["note_id"] for r in parts.store.list_notes(USER)] == ["n1", "n2", "n3"]


def test_a_search_that_must_see_the_users_last_write_goes_to_the_primary(
        pair: StreamingReplica, routed: tuple[Parts, ManualClock, str]) -> None:
    parts, _, name = routed
    before = _search(parts)
    old_version = parts.store.notes_version(USER)
    _diverge(pair, name, "PRIMARY ONLY")
    with psycopg.connect(pair.primary_url(name), autocommit=True) as conn:  # a write of ada's
        conn.execute("UPDATE notes_versions SET version = version + 1 WHERE user_id = %s",
                     (USER,))
    behind = _reads("primary", "behind")
    assert _search(parts, min_version=old_version + 1) == {"PRIMARY ONLY"}
    assert _reads("primary", "behind") == behind + 1
    assert _search(parts, min_version=old_version) == before  # the replica has that version


def test_a_replica_beyond_the_lag_bound_is_skipped_until_it_catches_up(
        pair: StreamingReplica, routed: tuple[Parts, ManualClock, str]) -> None:
    parts, clock, name = routed
    reads = parts.store.reads  # type: ignore[attr-defined]
    before = _search(parts)
    _diverge(pair, name, "PRIMARY ONLY")
    assert reads.health(force=True).state == "ok"  # behind since just now: within the bound
    assert _search(parts) == before
    clock.advance(MAX_LAG_S + CHECK_S)
    assert _search(parts) == {"PRIMARY ONLY"}  # the check was due: lag > bound, primary
    health = reads.health()
    assert health.state == "lagging" and health.lag_s > MAX_LAG_S
    assert REGISTRY.get_sample_value("db_replica_lag_seconds") > MAX_LAG_S
    pair.resume_replay()
    pair.wait_caught_up()
    clock.advance(CHECK_S)
    assert reads.health().state == "ok"
    # back on the replica: proven by diverging once more
    _diverge(pair, name, "NEWER ON PRIMARY")
    assert _search(parts) == {"PRIMARY ONLY"}


def test_a_dead_replica_costs_no_error_and_is_used_again_once_back(
        pair: StreamingReplica, routed: tuple[Parts, ManualClock, str],
        caplog: pytest.LogCaptureFixture) -> None:
    from rag_core.app import create_app

    parts, clock, name = routed
    reads = parts.store.reads  # type: ignore[attr-defined]
    assert reads.health(force=True).state == "ok"
    pair.stop()
    with caplog.at_level(logging.WARNING, logger="rag_core.store.replica"):
        for _ in range(3):
            assert any("Nehemiah" in t for t in _search(parts))  # from the primary
    downs = [r for r in caplog.records if "read replica down" in r.getMessage()]
    assert len(downs) == 1, [r.getMessage() for r in caplog.records]
    assert reads.health().state == "down"
    app = create_app(parts.settings, parts=parts)
    ready = asyncio.run(_get(app, "/readyz"))
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    assert ready.json()["checks"]["postgres_replica"]["state"] == "down"

    pair.start()
    pair.wait_caught_up()
    _diverge(pair, name, "PRIMARY ONLY")
    assert _search(parts) == {"PRIMARY ONLY"}  # not retried before replica_retry_s
    clock.advance(RETRY_S)
    assert all("PRIMARY ONLY" not in t for t in _search(parts))  # the replica's copy again
    assert reads.health().state == "ok"


async def _get(app: Any, path: str) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://test") as client:
        return await client.get(path)
