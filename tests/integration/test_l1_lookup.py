"""Step 2 of an answer (the notes version, then the answer it names) in one Redis round trip
on a single server, and the long way (two round trips) where the script cannot run: a Redis
Cluster, an ACL that forbids scripts. On both modes (``both_redis``), against the real servers.

The rules stay those of ``VersionLayer.current``: PostgreSQL is the truth, a version that
Redis lacks is read there and written back only if nobody wrote one meanwhile (``add``), a
version written through another master is read again; a dead Redis is a miss, never an error.
"""

from __future__ import annotations

from typing import Any

import pytest
import redis

from rag_core.answer import Answer
from rag_core.cache.layers import CacheLayers, layers_for
from rag_core.cache.semantic import judge_for
from rag_core.config import Retrieval, Settings
from rag_core.llm.prompt import prompt_id
from rag_core.parts import build_redis
from rag_core.redis_kv import codec
from rag_core.redis_kv.keys import normalize_query, notes_version_key, query_key
from rag_core.types import TokenUsage

pytestmark = [pytest.mark.integration, pytest.mark.both_redis]

USER = "amara"
QUESTION = "What did Pastor Okafor say about faith?"


def _answer(text: str) -> Answer:
    return Answer(answer=text, citations=[], no_context=False, generator="extractive",
                  cache={}, usage=TokenUsage(), cost_usd=0.0, timings_ms={}, request_id="r")


class Truth:
    """PostgreSQL's notes versions, counting the reads."""

    def __init__(self, **versions: int) -> None:
        self.versions = versions
        self.reads = 0

    def __call__(self, user_id: str) -> int:
        self.reads += 1
        return self.versions[user_id]


def _layers(settings: Settings, url: str) -> CacheLayers:
    return layers_for(settings, build_redis(settings.with_overrides(
        redis_url=url)), judge=judge_for(settings))


def _commands(client: Any, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the commands ``client`` sends from now on (one per round trip here)."""
    sent: list[str] = []
    original = client.execute_command

    def counted(*args: Any, **kwargs: Any) -> Any:
        sent.append(str(args[0]).upper())
        return original(*args, **kwargs)

    monkeypatch.setattr(client, "execute_command", counted)
    return sent


def _lookup(layers: CacheLayers, params: Retrieval, truth: Truth) -> tuple[Any, ...]:
    return layers.answers.lookup(params, USER, QUESTION, 5, truth)


def test_a_hit_is_one_round_trip_on_a_single_server(redis_url: str, redis_mode: str,
                                                     settings: Settings,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    layers = _layers(settings, redis_url)
    params = settings.retrieval
    truth = Truth(amara=7)
    version, key, answer, outcome = _lookup(layers, params, truth)  # version from PostgreSQL
    assert (version, answer, outcome, truth.reads) == (7, None, "miss", 1)
    assert key == query_key(settings, params, USER, 7, normalize_query(QUESTION), 5,
                            prompt=prompt_id())
    assert key == layers.answers.key(params, USER, 7, QUESTION, 5)
    layers.answers.put(key, _answer("Abraham believed."), user_id=USER, notes_version=7,
                      question=QUESTION, vector=None)

    sent = _commands(layers.query.client, monkeypatch)
    version, again, answer, outcome = _lookup(layers, params, truth)
    assert (version, again, outcome, truth.reads) == (7, key, "hit", 1)
    assert answer is not None and answer.answer == "Abraham believed."
    # a cluster keeps the version and the answer in different slots: two GETs there
    # a cluster: the version, then the L1 key and its stale twin (the body) in one slot
    assert sent == (["GET", "EVALSHA"] if redis_mode == "cluster" else ["EVALSHA"])
    assert layers.query.stats().hits == 1 and layers.versions.stats().hits == 1


def test_a_new_version_names_new_keys_and_is_never_overwritten(
        redis_url: str, redis_client: Any, settings: Settings) -> None:
    layers = _layers(settings, redis_url)
    params = settings.retrieval
    truth = Truth(amara=3)
    _, key, _, _ = _lookup(layers, params, truth)
    layers.answers.put(key, _answer("old notes"), user_id=USER, notes_version=3,
                      question=QUESTION, vector=None)
    layers.notes.changed(USER, 4)  # a note was edited: the writer sets the new version
    truth.versions[USER] = 4
    version, new_key, answer, outcome = _lookup(layers, params, truth)
    assert (version, answer, outcome) == (4, None, "miss") and new_key != key
    assert truth.reads == 1  # Redis had the version: PostgreSQL was not asked

    # Redis lost the version (evicted, restarted): read from PostgreSQL and added, but a
    # writer's newer version that lands first is kept (add, not set)
    redis_client.delete(notes_version_key(USER))
    assert _lookup(layers, params, truth)[0] == 4 and truth.reads == 2
    assert layers.versions.get(notes_version_key(USER)) == b"4"
    redis_client.delete(notes_version_key(USER))
    layers.versions.add(notes_version_key(USER), b"5", 60)  # the writer, between the reads
    assert layers.notes.from_store(USER, truth) == 4
    assert layers.versions.get(notes_version_key(USER)) == b"5"


@pytest.mark.parametrize("stored", [b"6@127.0.0.1:1", b"06", b" 6", b"six"])
def test_a_version_the_script_cannot_name_a_key_with_is_read_the_long_way(
        redis_url: str, redis_client: Any, settings: Settings, stored: bytes) -> None:
    """A version that names its master (what a promoted replica may hold) is judged by
    ``OwnedRedisCache``, and read again from PostgreSQL when its master is not the slot's
    owner; a value that is not ``str(int)`` never makes the script splice a key that Python
    would spell otherwise. Either way the outcome is the two GETs' outcome."""
    layers = _layers(settings, redis_url)
    params = settings.retrieval

    def outcome(read: Any) -> Any:
        redis_client.set(notes_version_key(USER), stored)
        truth = Truth(amara=7)
        try:
            version = read(truth)
        except ValueError:
            return "ValueError", truth.reads
        return version, truth.reads

    long_way = outcome(lambda truth: layers.notes.current(USER, truth))
    assert outcome(lambda truth: _lookup(layers, params, truth)[0]) == long_way
    if stored.startswith(b"6@"):
        assert long_way == (7, 1)  # read again from PostgreSQL


def test_a_redis_that_forbids_scripts_is_read_with_two_gets(
        redis_factory: Any, redis_mode: str, settings: Settings,
        monkeypatch: pytest.MonkeyPatch) -> None:
    if redis_mode == "cluster":
        pytest.skip("a cluster never runs the script")
    server = redis_factory()
    admin = redis.Redis.from_url(server.url)
    admin.acl_setuser("app", enabled=True, passwords=["+app-secret"], keys=["*"],
                      categories=["+@all"], commands=["-eval", "-evalsha", "-script"])
    url = f"redis://app:app-secret@127.0.0.1:{server.port}/0"
    client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
    layers = layers_for(settings, client, judge=judge_for(settings))
    params = settings.retrieval
    truth = Truth(amara=2)
    key = layers.answers.key(params, USER, 2, QUESTION, 5)
    admin.set(notes_version_key(USER), b"2")
    admin.set(key, codec.pack(_answer("kept").to_dict()))
    assert layers.versioned is not None and layers.versioned.usable

    version, found, answer, outcome = _lookup(layers, params, truth)
    assert (version, found, outcome, truth.reads) == (2, key, "hit", 0)
    assert answer is not None and answer.answer == "kept"
    assert not layers.versioned.usable  # refused once: not tried again by this process
    sent = _commands(client, monkeypatch)
    assert _lookup(layers, params, truth)[3] == "hit" and sent == ["GET", "GET"]
    admin.close()
    client.close()


def test_a_dead_redis_is_a_miss_with_the_version_from_postgres(
        redis_factory: Any, redis_mode: str, settings: Settings) -> None:
    if redis_mode == "cluster":
        pytest.skip("the cluster's failover has tests/integration/test_redis_failover.py")
    server = redis_factory()
    client = redis.Redis.from_url(server.url, socket_timeout=5, socket_connect_timeout=5)
    layers = layers_for(settings, client, judge=judge_for(settings))
    params = settings.retrieval
    truth = Truth(amara=9)
    assert _lookup(layers, params, truth)[0] == 9
    server.stop()
    errors = layers.versions.stats().errors
    version, key, answer, outcome = _lookup(layers, params, truth)
    assert (version, answer, outcome, truth.reads) == (9, None, "miss", 2)
    assert key == layers.answers.key(params, USER, 9, QUESTION, 5)
    assert layers.versions.stats().errors > errors
    assert layers.versioned is not None and layers.versioned.usable  # tried again later
    client.close()


def test_the_lookup_from_the_event_loop_decides_what_one_trip_can_and_nothing_else(
        redis_url: str, redis_mode: str, settings: Settings) -> None:
    """``AnswerLayer.alookup``: step 2 read in the event loop's task with the same script,
    decided and counted as ``lookup`` decides and counts it (a miss, then a hit); a user whose
    version Redis may not answer for yet is left to ``lookup`` (None, nothing counted). A
    cluster has no one-trip read: always ``lookup``."""
    import asyncio

    from rag_core.store.filters import NO_FILTERS

    layers = _layers(settings, redis_url)
    params = settings.retrieval
    _, key, _, _ = _lookup(layers, params, Truth(amara=7))  # the version, from PostgreSQL

    def on_loop() -> Any:
        return asyncio.run(layers.answers.alookup(params, USER, QUESTION, 5, NO_FILTERS))

    missed = on_loop()
    if redis_mode == "cluster":
        assert missed is None
        layers.answers.put(key, _answer("Abraham believed."), user_id=USER, notes_version=7,
                          question=QUESTION, vector=None)
        assert on_loop() is None and layers.query.stats().misses == 1  # lookup's own only
        return
    assert missed == (7, key, None, "miss")
    assert layers.query.stats().misses == 2  # lookup's, then this one's
    layers.answers.put(key, _answer("Abraham believed."), user_id=USER, notes_version=7,
                      question=QUESTION, vector=None)
    found = on_loop()
    assert found is not None
    version, again, answer, outcome = found
    assert (version, again, answer.answer, outcome) == (7, key, "Abraham believed.", "hit")
    assert layers.query.stats().hits == 1 and layers.versions.stats().hits >= 1
    layers.truth.debts[USER] = 8  # a version write Redis missed: settled the long way first
    hits = layers.query.stats().hits
    assert on_loop() is None and layers.query.stats().hits == hits


def test_a_hot_entry_is_decoded_once_and_an_entry_written_anew_is_read_anew(
        redis_url: str, redis_mode: str, settings: Settings) -> None:
    """Hits on one entry share one decoded answer (``_hot_answer``, keyed by
    the entry's bytes); an answer written again under the same key is decoded from its own
    bytes, never served from the memo of the old one."""
    import asyncio

    from rag_core.store.filters import NO_FILTERS

    layers = _layers(settings, redis_url)
    params = settings.retrieval
    _, key, _, _ = _lookup(layers, params, Truth(amara=3))

    def served() -> Answer:
        found = asyncio.run(layers.answers.alookup(params, USER, QUESTION, 5, NO_FILTERS))
        assert found is not None and found[2] is not None
        return found[2]

    layers.answers.put(key, _answer("Abraham believed."), user_id=USER, notes_version=3,
                      question=QUESTION, vector=None)
    if redis_mode == "cluster":  # no one-trip read: the long way serves it, nothing is shared
        assert asyncio.run(layers.answers.alookup(params, USER, QUESTION, 5,
                                                  NO_FILTERS)) is None
        assert layers.answers.peek(key) is not None
        return
    first = served()
    assert served() is first and first.answer == "Abraham believed."
    layers.answers.forget(USER, key, 3, None)
    layers.answers.put(key, _answer("Abraham went out."), user_id=USER, notes_version=3,
                      question=QUESTION, vector=None)
    again = served()
    assert again.answer == "Abraham went out." and first.answer == "Abraham believed."
