"""A note change's commit reaches the other processes at once (PostgreSQL LISTEN/NOTIFY), not at
their next poll of the debts: their next lookup of that user reads PostgreSQL's version. The
listening session survives being cut (``pg_terminate_backend``), the poll keeps working beside
it, and a process whose Redis connection was opened again reads versions from PostgreSQL until
its next poll. Real PostgreSQL and Redis; the poll is slowed so that only the notice can tell."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from rag_core.cache import versions as versions_module
from rag_core.cache.layers import CacheLayers, layers_for
from rag_core.cache.semantic import judge_for
from rag_core.config import Settings, fixed
from rag_core.procs import wait_until
from rag_core.redis_kv.client import connect
from rag_core.store.bulk import bump_version
from rag_core.store.pgvector import PgVectorStore
from rag_core.store.version_notices import parse

pytestmark = [pytest.mark.integration]

USER = "amara"
QUESTION = "What did Pastor Okafor say about faith?"
PARAMS = Settings(profile="ci").retrieval


class Reads:
    """PostgreSQL's notes versions for a lookup, counting the reads."""

    def __init__(self, store: PgVectorStore) -> None:
        self.store = store
        self.count = 0

    def __call__(self, user_id: str) -> int:
        self.count += 1
        return self.store.notes_version(user_id)


def change_notes(store: PgVectorStore, user_id: str) -> int:
    """A note change as a process cut off from Redis makes it: PostgreSQL only (its version
    bumped, owed and announced in one transaction), nothing written to Redis."""
    with store.pool.db("test change") as conn:
        return bump_version(conn, user_id, 1)


@pytest.fixture
def slow_poll(monkeypatch: pytest.MonkeyPatch) -> None:
    """The debts' poller waits an hour between polls: only a notice (or a poll the test
    runs itself) can tell a process of a change."""
    monkeypatch.setattr(versions_module, "POLL_S", 3600.0)


@pytest.fixture
def other(settings: Settings, store: PgVectorStore, redis_url: str) -> Iterator[CacheLayers]:
    """Another process's cache layers: its own Redis client, the debts in PostgreSQL."""
    layers = layers_for(settings, connect(redis_url, timeout_s=fixed.REDIS_TIMEOUT_S),
                        version_debts=store.version_debts, judge=judge_for(settings))
    yield layers
    layers.close()


def listening(layers: CacheLayers) -> int:
    """Start the process's poll and listener (its first lookup does) and wait until its
    session listens; the session's backend pid."""
    layers.truth.trusted(USER)
    wait_until(lambda: layers.truth.listening is not None, 60, "the listener listens")
    pid = layers.truth.listening
    assert pid is not None
    return pid


def seed(layers: CacheLayers, store: PgVectorStore, reads: Reads) -> int:
    """A version in Redis the other process trusts: its lookups need no database."""
    layers.answers.lookup(PARAMS, USER, QUESTION, 5, reads)
    before = reads.count
    version, _, _, _ = layers.answers.lookup(PARAMS, USER, QUESTION, 5,
                                             reads)
    assert reads.count == before  # read from Redis alone
    return version


def test_a_payload_names_the_version_and_the_user_even_with_a_colon_in_it() -> None:
    notice = parse("12:team:amara")
    assert notice is not None and (notice.version, notice.user_id) == (12, "team:amara")
    assert parse("x:amara") is None and parse("12") is None and parse("12:") is None


def test_a_committed_change_reaches_another_process_before_its_next_poll(
        slow_poll: None, store: PgVectorStore, other: CacheLayers) -> None:
    reads = Reads(store)
    listening(other)
    old = seed(other, store, reads)
    new = change_notes(store, USER)
    assert new > old
    wait_until(lambda: USER in other.truth.elsewhere, 60, "the notice reached the process")
    before = reads.count
    version, _, _, _ = other.answers.lookup(PARAMS, USER, QUESTION, 5,
                                            reads)
    assert version == new and reads.count == before + 1  # PostgreSQL's, not Redis's old one
    assert not other.truth.trusted_now(USER)  # the event loop's fast path leaves it too
    assert other.truth.trusted_now("someone-else")  # other users keep their one-trip hits


def test_the_listener_listens_again_after_its_session_is_killed_and_the_poll_still_works(
        slow_poll: None, store: PgVectorStore, other: CacheLayers, database_url: str) -> None:
    first = listening(other)
    with psycopg.connect(database_url, autocommit=True) as admin:
        assert admin.execute("SELECT pg_terminate_backend(%s)", (first,)).fetchone() == (True,)
    wait_until(lambda: other.truth.listening not in (None, first), 60,
               "the listener opened a new session")
    change_notes(store, USER)
    wait_until(lambda: USER in other.truth.elsewhere, 60, "the new session heard the change")

    # the poll beside it: a debt nobody announced (written as an older process would) is read
    with store.pool.db("test debt") as conn:
        conn.execute("INSERT INTO notes_versions (user_id, version) VALUES ('kofi', 3)")
        conn.execute("INSERT INTO notes_version_debts (user_id, version) VALUES ('kofi', 3)")
    assert "kofi" not in other.truth.elsewhere
    other.truth.poll()
    assert "kofi" in other.truth.elsewhere and USER in other.truth.elsewhere


def test_a_poll_that_began_before_a_notice_does_not_forget_it(
        slow_poll: None, store: PgVectorStore, other: CacheLayers,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The notice lands while a poll is reading the debts (its snapshot predates the commit):
    that poll keeps the user marked; the next one, once the debt is settled, lets it go."""
    listening(other)
    debts: Any = store.version_debts
    original = debts.owed

    def owed_then_commit() -> Any:
        read = original()
        change_notes(store, USER)
        wait_until(lambda: USER in other.truth.elsewhere, 60, "the notice was heard")
        return read

    monkeypatch.setattr(debts, "owed", owed_then_commit)
    other.truth.poll()
    assert USER in other.truth.elsewhere
    monkeypatch.setattr(debts, "owed", original)
    debts.settle(USER, store.notes_version(USER))
    other.truth.poll()
    assert USER not in other.truth.elsewhere


def test_after_its_redis_connection_is_opened_again_a_process_reads_postgres_until_a_poll(
        slow_poll: None, store: PgVectorStore, other: CacheLayers) -> None:
    reads = Reads(store)
    listening(other)
    seed(other, store, reads)
    client = other.query.client  # type: ignore[attr-defined]
    client.connection_pool.disconnect()  # the partition ends: the next command reconnects
    before = reads.count
    other.answers.lookup(PARAMS, USER, QUESTION, 5, reads)
    assert reads.count == before + 1  # the read that reconnected is not trusted
    other.answers.lookup(PARAMS, USER, QUESTION, 5, reads)
    assert reads.count == before + 2  # nor Redis's copy, until a poll has run since
    other.truth.poll()
    other.answers.lookup(PARAMS, USER, QUESTION, 5, reads)
    assert reads.count == before + 2
