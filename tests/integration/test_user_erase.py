"""A user erased everywhere (``rag_core.ops.erase``): afterwards no PostgreSQL table and no
Redis key or value holds the user id, its plain SHA-256 (whole, or the 16 characters the cache
keys carry), one of its questions or a sentence of one of its notes; the day's spend stays in
the totals under the anonymous key; the audit names the user by a keyed hash only; an unknown
user touches nothing; a question in flight during the erasure ends without writing back.
Real PostgreSQL, real Redis (single server and cluster), the real embedding model, the
extractive generator (held by a gate for the question in flight)."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import psycopg
import pytest

from rag_core.answers.feedback import give_verdict
from rag_core.answers.log import flush_query_log
from rag_core.config import Settings
from rag_core.costs import reporting
from rag_core.costs.ledger import today
from rag_core.errors import UserNotFound
from rag_core.ingest.ingestion import ingest_notes
from rag_core.llm.base import Generation, Prompt
from rag_core.ops.erase import erase_user
from rag_core.parts import Parts, build_parts
from rag_core.pipeline import Pipeline
from rag_core.store.sql.erasure import ANONYMOUS_USER
from rag_core.types import Note, TokenUsage

pytestmark = [pytest.mark.integration, pytest.mark.both_redis]

USER, OTHER = "erase-me.q7", "keeps-notes.k2"
SENTENCES = ["Sister Philippa Quarrington mended forty hymnals in the vestry last Lent.",
             "The choir sang Abide With Me beside the flooded orchard at Tewkesbury."]
NOTES = [Note(id="hymnals", title="Hymnals mended", body=SENTENCES[0] + " She used linen tape."),
         Note(id="orchard", title="Orchard choir", body=SENTENCES[1] + " The rain stopped.")]
QUESTIONS = ["Who mended forty hymnals in the vestry?",
             "Where did the choir sing Abide With Me?"]
OTHER_NOTE = Note(id="bells", title="Bells", body="Brother Anselm rang the bells at dawn.")


def needles(user: str) -> list[str]:
    digest = hashlib.sha256(user.encode()).hexdigest()
    return [user, digest, digest[:16], *QUESTIONS, *SENTENCES]


class Gate:
    """The real generator, held before it answers until the test opens the gate."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name
        self.entered = threading.Event()
        self.open = threading.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def generate(self, prompt: Prompt) -> Generation:
        self.entered.set()
        assert self.open.wait(120)
        return self.inner.generate(prompt)


@pytest.fixture
def parts(settings: Settings, database_url: str, redis_url: str) -> Iterator[Parts]:
    live = settings.with_overrides(database_url=database_url, redis_url=redis_url,
                                   llm="extractive", query_log=True)
    built = build_parts(live)
    ingest_notes(built, USER, NOTES, progress=False)
    ingest_notes(built, OTHER, [OTHER_NOTE], progress=False)
    yield built
    built.close()


def pg_found(url: str, words: list[str]) -> dict[str, int]:
    """Per table, the rows whose text (every column) holds one of ``words``."""
    found: dict[str, int] = {}
    with psycopg.connect(url) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")]
        for table in tables:
            for word in words:
                row = conn.execute(f'SELECT count(*) FROM "{table}" t '  # noqa: S608
                                   "WHERE strpos(t::text, %s) > 0", (word,)).fetchone()
                if row and row[0]:
                    found[f"{table}:{word[:20]}"] = int(row[0])
    return found


def redis_found(client: Any, words: list[str]) -> list[str]:
    """Every key whose name or value (any type) holds one of ``words``."""
    found = []
    for key in client.scan_iter(match="*", count=1000):
        kind = client.type(key)
        kind = kind.decode() if isinstance(kind, bytes) else kind
        raw: list[bytes] = [key]
        if kind == "string":
            raw.append(client.get(key) or b"")
        elif kind == "hash":
            for k, v in client.hgetall(key).items():
                raw += [k, v]
        elif kind == "zset":
            raw += client.zrange(key, 0, -1)
        elif kind == "set":
            raw += list(client.smembers(key))
        elif kind == "list":
            raw += client.lrange(key, 0, -1)
        text = b"\n".join(raw).decode("utf-8", "replace")
        found += [f"{key!r}:{w[:20]}" for w in words if w in text]
    return found


def use_everything(parts: Parts) -> None:
    """Questions (cached, logged), a verdict, spend, an open reservation."""
    pipe = Pipeline(parts)
    answers = [pipe.ask(USER, q) for q in QUESTIONS]
    pipe.ask(USER, QUESTIONS[0])  # a cache hit
    give_verdict(parts.records, parts.caches.answers, USER, answers[0].answer_id, "right",
                 "thank you")
    done = parts.ledger.reserve(USER, 0.01)
    parts.ledger.commit(done, 0.004, TokenUsage(input_tokens=100, output_tokens=20))
    parts.ledger.reserve(USER, 0.02)  # in flight: its row is open
    Pipeline(parts).ask(OTHER, "Who rang the bells at dawn?")
    flush_query_log(parts.records)
    parts.ledger.requests.flush()  # the counts now, not from the background thread mid-test
    assert parts.caches.counters is not None and parts.caches.counters.flush()  # likewise


def test_nothing_of_an_erased_user_is_left_in_postgres_or_redis(
        parts: Parts, database_url: str, redis_client: Any) -> None:
    use_everything(parts)
    words = needles(USER)
    before_pg, before_redis = pg_found(database_url, words), redis_found(redis_client, words)
    assert {k.split(":")[0] for k in before_pg} >= {
        "notes", "chunks", "answers", "answer_feedback", "user_api_costs", "cost_reservations",
        "query_log"}  # the scan sees the user where the user is
    assert before_redis
    spent_before = reporting.global_spend(parts.ledger)
    user_spent = reporting.spend(parts.ledger, USER)
    anonymous_before = reporting.spend(parts.ledger, ANONYMOUS_USER)
    assert user_spent > 0

    erasure = erase_user(parts.store, parts.caches, redis_client, USER, log_key=None,
                         actor="privacy-desk", erasure_log=None)

    after_pg, after_redis = pg_found(database_url, words), redis_found(redis_client, words)
    with psycopg.connect(database_url) as conn:
        tables = conn.execute("SELECT count(*) FROM pg_tables "
                              "WHERE schemaname = current_schema()").fetchone()
    keys = len(list(redis_client.scan_iter(match="*", count=1000)))
    print(f"\nerase scan: {tables[0] if tables else 0} tables and the {keys} Redis keys left "
          f"searched for {len(words)} strings; found before: {sum(before_pg.values())} "
          f"(row, string) matches in {len({k.split(':')[0] for k in before_pg})} tables and "
          f"{len(before_redis)} (key, string) matches; after: {sum(after_pg.values())} and "
          f"{len(after_redis)}")
    assert after_pg == {}
    assert after_redis == []
    assert erasure.rows["notes"] == 2 and erasure.rows["query_log"] >= 2
    # the other user is whole; the money stays in the totals
    assert parts.store.count_chunks(OTHER) >= 1
    assert reporting.global_spend(parts.ledger) == pytest.approx(spent_before)
    # the user's day key in Redis moved under the anonymous key (``redis_erase._MOVE_DAY``)
    assert reporting.spend(parts.ledger, ANONYMOUS_USER) == pytest.approx(
        anonymous_before + user_spent)
    with psycopg.connect(database_url) as conn:
        anon = conn.execute("SELECT cost_usd::float8 FROM user_api_costs WHERE user_id = %s "
                            "AND day = %s", (ANONYMOUS_USER, today())).fetchone()
        audit = conn.execute("SELECT action, subject, actor FROM audit_log").fetchall()
    assert anon is not None and anon[0] == pytest.approx(0.004)
    assert audit == [("user_erased", erasure.user_key, "privacy-desk")]
    assert erasure.user_key not in words and len(erasure.user_key) == 64


def test_an_unknown_user_is_refused_and_nothing_is_touched(
        parts: Parts, database_url: str, redis_client: Any) -> None:
    use_everything(parts)
    before = pg_found(database_url, needles(USER)), len(list(redis_client.scan_iter("*")))
    with pytest.raises(UserNotFound, match="No such user"):
        erase_user(parts.store, parts.caches, redis_client, "nobody-here", log_key=None,
                   actor="cli", erasure_log=None)
    assert (pg_found(database_url, needles(USER)),
            len(list(redis_client.scan_iter("*")))) == before


def test_a_question_in_flight_during_the_erasure_writes_nothing_back(
        parts: Parts, database_url: str, redis_client: Any) -> None:
    gate = Gate(parts.generator)
    pipe = Pipeline(replace(parts, generator=gate))
    result: list[Any] = []
    paid = parts.ledger.reserve(USER, 0.01)  # a paid generation of the same user, in flight
    worker = threading.Thread(target=lambda: result.append(pipe.ask(USER, QUESTIONS[1])))
    worker.start()
    assert gate.entered.wait(120), "the generation never started"
    erase_user(parts.store, parts.caches, redis_client, USER, log_key=None, actor="cli",
               erasure_log=None)
    gate.open.set()
    worker.join(120)
    assert result, "the question in flight ended without an answer"
    parts.ledger.commit(paid, 0.003, TokenUsage(input_tokens=10, output_tokens=5))
    parts.ledger.requests.flush()
    flush_query_log(parts.records)
    words = needles(USER)
    assert pg_found(database_url, words) == {}
    assert redis_found(redis_client, words) == []
    with psycopg.connect(database_url) as conn:
        anon = conn.execute("SELECT cost_usd::float8 FROM user_api_costs WHERE user_id = %s",
                            (ANONYMOUS_USER,)).fetchone()
    assert anon is not None and anon[0] == pytest.approx(0.003)


def test_an_erase_with_redis_down_touches_nothing_and_says_so(
        settings: Settings, database_url: str, redis_factory: Any, redis_mode: str) -> None:
    if redis_mode != "standalone":
        pytest.skip("one Redis server of its own is stopped here")
    from rag_core.errors import ErasureIncomplete

    server = redis_factory()
    built = build_parts(settings.with_overrides(database_url=database_url,
                                                redis_url=server.url, llm="extractive"))
    try:
        ingest_notes(built, USER, NOTES, progress=False)
        client = getattr(built.caches.query, "client", None)
        server.stop()
        with pytest.raises(ErasureIncomplete, match="nothing was erased"):
            erase_user(built.store, built.caches, client, USER, log_key=None, actor="cli",
                       erasure_log=None)
        assert len(built.store.list_notes(USER)) == 2  # PostgreSQL untouched
    finally:
        built.close()
