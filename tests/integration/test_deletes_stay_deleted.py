"""A deleted note is never answered again: not by an answer generated from it while it was being
deleted (JSON or streaming), not after a Redis that missed the delete restarts from its
append-only file. Real PostgreSQL, a real Redis of each test (``persist=True``: the append-only
file, as the probe ran it), frozen with SIGSTOP and killed; the real embedding model and the
extractive generator, held at the edge by a gate so that a generation can straddle a delete."""

from __future__ import annotations

import os
import signal
import socket
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import redis
from servers import RedisProcess

from rag_core.answer import Answer
from rag_core.cache.layers import layers_for
from rag_core.config import Settings, fixed
from rag_core.ingest.ingestion import delete_note, ingest_notes
from rag_core.llm.base import Generation, Prompt
from rag_core.parts import Parts, build_parts
from rag_core.pipeline import Pipeline
from rag_core.procs import free_port, wait_until
from rag_core.redis_kv.client import connect
from rag_core.redis_kv.keys import notes_version_key
from rag_core.types import Note

USER = "amara"
SECRET = "Deacon Ezekiel Marlowe baked rye bread for the night shelter every Thursday."
QUESTION = "Who baked rye bread for the night shelter?"
NOTES = [
    Note(id="bread", title="Bread for the shelter", body=f"{SECRET} He said bread is a sermon "
         "you can eat, and he asked the youth group to help him knead the dough."),
    Note(id="psalm", title="Psalm 23 at the hospital",
         body="Pastor Okafor read Psalm 23 at the hospital chapel and spoke about the valley "
              "of the shadow of death as a place that is walked through, not lived in."),
]


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

    def stream(self, prompt: Prompt) -> Iterator[str]:
        self.entered.set()
        assert self.open.wait(120)
        yield from self.inner.stream(prompt)


@pytest.fixture
def own_redis(short_tmp: Path, request: pytest.FixtureRequest) -> Iterator[RedisProcess]:
    server = RedisProcess(short_tmp / f"del-{os.getpid()}-{request.node.name[-20:]}",
                          persist=True).start()
    yield server
    if server.proc is not None and server.proc.poll() is None:
        os.kill(server.proc.pid, signal.SIGCONT)
    server.stop()


@pytest.fixture
def parts(settings: Settings, database_url: str, own_redis: RedisProcess) -> Iterator[Parts]:
    live = settings.with_overrides(database_url=database_url, redis_url=own_redis.url,
                                   llm="extractive")
    built = build_parts(live)
    ingest_notes(built, USER, NOTES, progress=False)
    yield built
    built.close()


def cites(answer: Answer, note_id: str) -> bool:
    return note_id in {c.note_id for c in answer.citations} or SECRET[:30] in answer.answer


def redis_texts(url: str) -> list[bytes]:
    """Every key of the cache layers whose value holds the deleted note's text."""
    client = redis.Redis.from_url(url)
    found = []
    for key in client.scan_iter(match="rag:*", count=1000):
        kind = client.type(key)
        raw = (client.get(key) if kind == b"string"
               else b"".join(client.hvals(key)) if kind == b"hash" else b"")
        if SECRET[:30].encode() in (raw or b""):
            found.append(key)
    return found


def ask_during_delete(parts: Parts, streaming: bool) -> Answer:
    """An ask whose generation read the note before its DELETE and ends after it."""
    gate = Gate(parts.generator)
    pipe = Pipeline(replace(parts, generator=gate))
    result: list[Answer] = []

    def ask() -> None:
        if streaming:
            for event in pipe.stream(USER, QUESTION):
                if event["type"] == "answer":
                    result.append(Answer.from_dict(
                        {k: v for k, v in event.items() if k != "type"}))
        else:
            result.append(pipe.ask(USER, QUESTION))

    worker = threading.Thread(target=ask)
    worker.start()
    assert gate.entered.wait(120), "the generation never started"
    assert delete_note(parts, USER, "bread")
    gate.open.set()
    worker.join(120)
    assert result, "the ask ended without an answer"
    return result[0]


@pytest.mark.parametrize("streaming", [False, True], ids=["json", "stream"])
def test_an_answer_generated_across_a_delete_is_not_stored(
        parts: Parts, own_redis: RedisProcess, streaming: bool) -> None:
    straddling = ask_during_delete(parts, streaming)
    assert cites(straddling, "bread")  # it was made from the note: fine to send, not to keep
    assert redis_texts(own_redis.url) == []  # nothing of it in rag:query/stale/semantic
    again = Pipeline(parts).ask(USER, QUESTION)
    assert not cites(again, "bread")
    assert again.cache["query"] != "hit"


def test_a_delete_during_a_redis_crash_is_not_undone_by_its_append_only_file(
        parts: Parts, own_redis: RedisProcess) -> None:
    pipe = Pipeline(parts)
    # another process of the service: its own Redis client, and it never sees the delete
    other = Pipeline(replace(parts, caches=layers_for(
        parts.settings, connect(own_redis.url, timeout_s=fixed.REDIS_TIMEOUT_S),
        judge=parts.judges.semantic)))
    first = pipe.ask(USER, QUESTION)
    assert cites(first, "bread")
    assert pipe.ask(USER, QUESTION).cache["query"] == "hit"  # cached under the old version
    assert other.ask(USER, QUESTION).cache["query"] == "hit"
    assert own_redis.proc is not None
    aof = redis.Redis.from_url(own_redis.url)
    wait_until(lambda: aof.info("persistence")["aof_rewrite_in_progress"] == 0, 60, "aof")

    os.kill(own_redis.proc.pid, signal.SIGSTOP)  # frozen: every write of the delete times out
    try:
        assert delete_note(parts, USER, "bread")  # PostgreSQL moved on; DELETE answers 200
    finally:
        own_redis.proc.kill()  # killed while frozen: the writes sent to it never ran
        own_redis.proc.wait(30)
    own_redis.start()  # same port, from its append-only file: the old version is back
    wait_until(lambda: _version_back(own_redis.url), 60, "Redis restored its old keys")

    # the other process first: it owes nothing, but it meets a Redis with a new run_id
    for _ in range(3):
        assert not cites(other.ask(USER, QUESTION), "bread")
    for _ in range(5):  # answered meanwhile, and never from the deleted note
        answer = pipe.ask(USER, QUESTION)
        assert not cites(answer, "bread")
    assert redis_texts(own_redis.url) == []  # the purge that failed was redone


def test_a_delete_whose_process_died_during_a_redis_freeze_is_not_undone(
        parts: Parts, own_redis: RedisProcess) -> None:
    """The deleting process dies while Redis is frozen, so its failed version write is never
    redone by it; Redis then resumes with the old version (same run_id: nothing looks
    restarted). Another process reads PostgreSQL's debt record and serves the new version."""
    pipe = Pipeline(parts)
    other_caches = layers_for(
        parts.settings, connect(own_redis.url, timeout_s=fixed.REDIS_TIMEOUT_S),
        version_debts=parts.store.version_debts, judge=parts.judges.semantic)
    other = Pipeline(replace(parts, caches=other_caches))
    assert cites(pipe.ask(USER, QUESTION), "bread")
    assert other.ask(USER, QUESTION).cache["query"] == "hit"  # cached under the old version
    assert own_redis.proc is not None
    os.kill(own_redis.proc.pid, signal.SIGSTOP)
    try:
        assert delete_note(parts, USER, "bread")  # PostgreSQL moved on; Redis took nothing
        parts.caches.close()  # the deleting process dies here: its own debt is gone with it
        wait_until(lambda: USER in other_caches.truth.elsewhere, 60,
                   "the other process read the debt PostgreSQL records")
    finally:
        os.kill(own_redis.proc.pid, signal.SIGCONT)  # back, with the old version in it
    for _ in range(3):
        answer = other.ask(USER, QUESTION)
        assert not cites(answer, "bread")
    # the frozen server may still run the dead process's version write when it resumes (it
    # was in its socket), but never its purge: the other process redoes both
    wait_until(lambda: redis_texts(own_redis.url) == [], 60,
               "the deleted note's text left every cache layer")
    version = str(parts.store.notes_version(USER)).encode()
    assert redis.Redis.from_url(own_redis.url).get(notes_version_key(USER)) == version
    debts = parts.store.version_debts
    assert debts is not None
    wait_until(lambda: not debts.owed(), 60, "the dead process's debt paid by the other")
    assert not cites(other.ask(USER, QUESTION), "bread")
    other_caches.close()


def test_a_delete_by_a_process_cut_off_from_redis_is_served_by_the_others(
        parts: Parts, own_redis: RedisProcess) -> None:
    """A process that cannot reach Redis at all (a partition: its write never arrives) deletes
    a note and dies. Redis never restarted, so nothing else tells the others their copy of the
    version is old: PostgreSQL's debt record does, at once."""
    other_caches = layers_for(
        parts.settings, connect(own_redis.url, timeout_s=fixed.REDIS_TIMEOUT_S),
        version_debts=parts.store.version_debts, judge=parts.judges.semantic)
    other = Pipeline(replace(parts, caches=other_caches))
    assert cites(other.ask(USER, QUESTION), "bread")
    assert other.ask(USER, QUESTION).cache["query"] == "hit"
    cut_off = replace(parts, caches=layers_for(
        parts.settings, connect(f"redis://127.0.0.1:{free_port()}", timeout_s=0.25),
        version_debts=parts.store.version_debts, judge=parts.judges.semantic))
    assert delete_note(cut_off, USER, "bread")
    cut_off.caches.close()  # and it dies
    wait_until(lambda: USER in other_caches.truth.elsewhere, 60,
               "the other process read the debt PostgreSQL records")
    assert not cites(other.ask(USER, QUESTION), "bread")
    wait_until(lambda: redis_texts(own_redis.url) == [], 60,
               "the deleted note's text left every cache layer")
    other_caches.close()


def test_a_delete_across_a_partition_is_not_served_by_another_process_once_it_returned(
        parts: Parts, own_redis: RedisProcess) -> None:
    """The deleting process reaches PostgreSQL but not Redis (a partition: its Redis accepts
    the connection and never answers, so the version write fails only after its timeout). The
    other process, whose Redis still holds the old version and the cached answer, hears of the
    commit from PostgreSQL itself: its first question once the delete has returned, and every
    one after, is 0 stale, with no wait for its poll of the debts."""
    other_caches = layers_for(
        parts.settings, connect(own_redis.url, timeout_s=fixed.REDIS_TIMEOUT_S),
        version_debts=parts.store.version_debts, judge=parts.judges.semantic)
    other = Pipeline(replace(parts, caches=other_caches))
    assert cites(other.ask(USER, QUESTION), "bread")
    assert other.ask(USER, QUESTION).cache["query"] == "hit"
    wait_until(lambda: other_caches.truth.listening is not None, 60,
               "the other process listens for note changes")
    with socket.socket() as silent:  # a Redis behind the partition: connects, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        cut_off = replace(parts, caches=layers_for(
            parts.settings, connect(f"redis://127.0.0.1:{silent.getsockname()[1]}",
                                    timeout_s=fixed.REDIS_TIMEOUT_S),
            version_debts=parts.store.version_debts, judge=parts.judges.semantic))
        assert delete_note(cut_off, USER, "bread")
        stale = [answer for answer in (other.ask(USER, QUESTION) for _ in range(5))
                 if cites(answer, "bread")]
        cut_off.caches.close()
    assert stale == []
    other_caches.close()


def _version_back(url: str) -> bool:
    try:
        return any(True for _ in redis.Redis.from_url(url).scan_iter(match="rag:version:*"))
    except redis.RedisError:
        return False
