"""Cache layers against the real Redis: hits, TTLs, isolation, fail-open and recovery (on a
single server and on a three-master Redis Cluster: ``both_redis``)."""

from __future__ import annotations

import numpy as np
import pytest
import redis

from rag_core.cache.layers import layers_for
from rag_core.cache.redis_cache import RedisCache
from rag_core.cache.semantic import judge_for, semantic_for
from rag_core.config import Settings
from rag_core.llm.prompt import prompt_id
from rag_core.procs import wait_until
from rag_core.redis_kv.client import shared_client
from rag_core.redis_kv.keys import query_key, user_prefix
from rag_core.telemetry import metrics
from rag_core.types import Chunk

pytestmark = [pytest.mark.integration, pytest.mark.both_redis]


def unit(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=384).astype(np.float32)
    return v / np.linalg.norm(v)


def test_hit_miss_and_ttl(redis_url: str, settings: Settings) -> None:
    client = shared_client(redis_url, settings)
    cache = RedisCache("query", client)
    assert cache.get("rag:query:k") is None
    cache.set("rag:query:k", b"value", ttl_s=1)
    cache.set("rag:query:long", b"value", ttl_s=86_400)
    assert cache.get("rag:query:k") == b"value"
    # Redis' own read-out of the expiry that set() gave each key
    assert 0 < client.pttl("rag:query:k") <= 1000
    assert 86_000 < client.ttl("rag:query:long") <= 86_400
    # and Redis expires the short one by itself: wait for that, not for a fixed time
    wait_until(lambda: not client.exists("rag:query:k"), 30, "the 1 s key to expire")
    assert cache.get("rag:query:k") is None
    stats = cache.stats()
    assert (stats.hits, stats.misses, stats.sets) == (1, 2, 2)


def test_layers_clear_one_user_only(redis_url: str, settings: Settings) -> None:
    layers = layers_for(settings, shared_client(redis_url, settings), judge=judge_for(settings))
    params = settings.retrieval
    ka = query_key(settings, params, "amara", 1, "faith", 5, prompt=prompt_id())
    kb = query_key(settings, params, "ben", 1, "faith", 5, prompt=prompt_id())
    assert ka != kb and ka.startswith(user_prefix("query", "amara"))
    layers.query.set(ka, b"a", 60)
    layers.query.set(kb, b"b", 60)
    assert layers.clear("amara") >= 1
    assert layers.query.get(ka) is None and layers.query.get(kb) == b"b"


def _chunk(note_id: str, ordinal: int = 0) -> Chunk:
    return Chunk(chunk_id=f"{note_id}:{ordinal}:h", note_id=note_id, user_id="amara",
                 ordinal=ordinal, text="Pastor Okafor taught that prayer is asking like a child.",
                 score=0.6)


def test_semantic_cache_never_crosses_users_or_versions(redis_url: str,
                                                        settings: Settings) -> None:
    settings = settings.with_overrides(semantic_mode="loose")  # its dates rule, below
    client = shared_client(redis_url, settings)
    semantic = semantic_for(client, settings, judge=judge_for(settings))
    vec = unit(1)
    evidence = [_chunk("amara-005")]
    semantic.store("amara", 3, "What did Okafor say about prayer?", vec, b"answer", 60,
                   evidence)
    near = vec + 0.01 * unit(2)
    near /= np.linalg.norm(near)
    hit = semantic.lookup("amara", 3, "According to Okafor, what is prayer?", near,
                          lambda: evidence)
    assert hit is not None and hit.answer == b"answer" and hit.similarity > 0.99
    assert hit.decision is not None and hit.decision.reason == "reuse"
    assert semantic.lookup("ben", 3, "According to Okafor, what is prayer?", near,
                           lambda: evidence) is None
    assert semantic.lookup("amara", 4, "According to Okafor, what is prayer?", near,
                           lambda: evidence) is None
    # Close embeddings but a different year: refused, and the decision says why.
    semantic.store("amara", 3, "What did Okafor say about prayer in 2023?", vec, b"x", 60,
                   evidence)
    outcome = semantic.decide("amara", 3, "What did Okafor say about prayer in 2024?", vec,
                              lambda: evidence)
    assert outcome.hit is None and outcome.decision is not None
    assert outcome.decision.reason == "dates"


@pytest.mark.parametrize("backend", ["redis", "in-process"])
def test_semantic_entries_expire_at_their_own_ttl(backend: str, redis_url: str,
                                                  settings: Settings) -> None:
    """A later entry of the same user renews the Redis hash, not the older entries in it."""
    now = [1000.0]
    client = shared_client(redis_url, settings) if backend == "redis" else None
    semantic = semantic_for(client, settings, clock=lambda: now[0], judge=judge_for(settings))
    vec = unit(1)
    ev_a, ev_b = [_chunk("amara-005")], [_chunk("amara-011")]
    semantic.store("amara", 1, "What did Okafor say about prayer?", vec, b"old", 60, ev_a)
    now[0] += 50
    semantic.store("amara", 1, "Who preached on Ruth?", unit(5), b"new", 60, ev_b)
    assert semantic.lookup("amara", 1, "What did Okafor say about prayer?", vec,
                           lambda: ev_a) is not None
    now[0] += 20  # 70 s after the first store, 20 s after the second
    assert semantic.lookup("amara", 1, "What did Okafor say about prayer?", vec,
                           lambda: ev_a) is None
    hit = semantic.lookup("amara", 1, "Who preached on Ruth?", unit(5), lambda: ev_b)
    assert hit is not None and hit.answer == b"new"


def test_a_lookup_parses_only_the_new_question(redis_url: str, settings: Settings,
                                               monkeypatch) -> None:  # noqa: ANN001
    """The cached question's canonical form comes stored with it: a process that did not
    store it (here: emptied memos) runs spaCy on the new question only (strict); loose parses
    the cached question's facts once more, then has them memoised."""
    from rag_core.decisions.semantic_canonical import canonical
    from rag_core.text import nlp

    client = shared_client(redis_url, settings)
    cache = semantic_for(client, settings, judge=judge_for(settings))
    client.delete(cache.scope("amara", 8), cache.index_key(cache.scope("amara", 8)))
    cached_q, new_q = "What did Okafor say about prayer?", "What did Okafor say about prayer??"
    ev = [_chunk("amara-005")]
    cache.store("amara", 8, cached_q, unit(21), b"the one", 600, ev)
    parsed: list[str] = []
    real = nlp.nlp()
    monkeypatch.setattr(nlp, "nlp", lambda: lambda text, **kw: parsed.append(text)
                        or real(text, **kw))
    nlp.facts.cache_clear()
    nlp.parse.cache_clear()
    canonical.cache_clear()
    hit = cache.lookup("amara", 8, new_q, unit(21), lambda: ev)
    assert hit is not None and hit.answer == b"the one"
    assert parsed == [new_q.casefold()]  # its canonical form (strict, the default)
    cache = cache.with_judge(judge_for(settings.with_overrides(semantic_mode="loose")))
    parsed.clear()
    cache.lookup("amara", 8, "What did Okafor say of prayer?", unit(21), lambda: ev)
    assert cached_q in parsed and parsed.count("What did Okafor say of prayer?") == 1
    parsed.clear()
    cache.lookup("amara", 8, "What did Okafor say of prayer?", unit(21), lambda: ev)
    assert cached_q not in parsed  # memoised


def test_a_lookup_reads_the_index_and_only_the_closest_entries_in_full(
        redis_url: str, settings: Settings, monkeypatch) -> None:  # noqa: ANN001
    """A full scope costs a lookup its index (vectors) plus MAX_CANDIDATES entries, not every
    answer and evidence text; trimming keeps the index and the entries in step."""
    from rag_core.cache import semantic as sem
    from rag_core.cache import semantic_entries
    from rag_core.redis_kv import codec

    client = shared_client(redis_url, settings)
    loose = settings.with_overrides(semantic_mode="loose")
    cache = semantic_for(client, loose, judge=judge_for(loose))
    client.delete(cache.scope("amara", 7), cache.index_key(cache.scope("amara", 7)))
    monkeypatch.setattr(semantic_entries, "MAX_ENTRIES_PER_SCOPE", 30)
    monkeypatch.setattr(semantic_entries, "TRIM_SLACK", 5)
    base = unit(11)
    for i in range(40):  # near-duplicates of one question: all above the threshold
        vec = base + 0.01 * unit(100 + i)
        cache.store("amara", 7, f"What did Okafor say about prayer, take {i}?",
                    vec / np.linalg.norm(vec), b"answer %d" % i + b" " * 2000, 600,
                    [_chunk("amara-005")])
    cache.store("amara", 7, "What did Okafor say about prayer?", base, b"the one", 600,
                [_chunk("amara-005")])
    scope = cache.scope("amara", 7)
    index = client.hgetall(cache.index_key(scope))
    assert set(index) == set(client.hkeys(scope)) and 30 <= len(index) <= 35  # trimmed
    assert all(set(codec.unpack(v)) == {"v", "t", "e", "c"} for v in index.values())
    fetched: list[int] = []
    real = client.hmget
    monkeypatch.setattr(client, "hmget", lambda key, fields: fetched.append(len(fields))
                        or real(key, fields))
    hit = cache.lookup("amara", 7, "What did Okafor say about prayer?", base,
                       lambda: [_chunk("amara-005")])
    assert hit is not None and hit.answer == b"the one"
    assert fetched == [sem.MAX_CANDIDATES]  # three entries read in full, of 30 or more
    strict = cache.with_judge(judge_for(settings))
    assert strict.lookup("amara", 7, "What did Okafor say about prayer?", base,
                         lambda: [_chunk("amara-005")]) is not None
    assert fetched[-1] == 1  # strict reads the one entry in the same words
    client.hdel(scope, *client.hkeys(scope))  # entries gone, index lines left: a miss
    assert cache.lookup("amara", 7, "What did Okafor say about prayer?", base,
                        lambda: [_chunk("amara-005")]) is None


def test_fail_open_when_redis_dies_and_recovery(redis_factory, settings: Settings) -> None:
    server = redis_factory()
    # generous timeouts: a stopped server refuses at once; a busy machine must not time out
    client = redis.Redis.from_url(server.url, socket_timeout=5, socket_connect_timeout=5)
    layers = layers_for(settings, client, judge=judge_for(settings))
    key = query_key(settings, settings.retrieval, "amara", 1, "faith", 5,
                    prompt=prompt_id())
    layers.query.set(key, b"v", 60)
    assert layers.query.get(key) == b"v"
    errors_before = metrics.CACHE_ERRORS.labels(layer="query")._value.get()
    server.stop()
    assert layers.query.get(key) is None  # a miss, not an exception
    layers.query.set(key, b"w", 60)  # silent
    assert layers.semantic.lookup("amara", 1, "faith", unit(3)) is None
    assert layers.ping() is False
    assert metrics.CACHE_ERRORS.labels(layer="query")._value.get() > errors_before
    server.start()  # same port, empty data: the same client object works again
    wait_until(layers.ping, 60, "the restarted Redis")  # a condition, not a time window
    layers.query.set(key, b"again", 60)
    assert layers.query.get(key) == b"again"
