"""The cache replay's simulated clock on the real Redis: an entry lives the same simulated time
in every replay of a log, however long the answers between two steps took on the wall clock
(the clock's wall time is one the test controls), and a replay starts from empty caches."""

from __future__ import annotations

import pytest

from evals.cache import replay as cr


def lives(redis_client, lag_s: float) -> list[int]:
    """Whether the entry is there after each 300 s step, each step taking ``lag_s`` of wall
    time."""
    redis_client.flushdb()
    wall = [0.0]
    clock = cr.SimClock(redis_client, quantum_s=300, wall=lambda: wall[0])
    redis_client.set("rag:l1:ann:question", b"answer", ex=3_600)
    redis_client.set("rag:l1:ann:lasting", b"answer")  # no expiry: never aged
    seen = []
    for t in range(300, 4_500, 300):
        wall[0] += lag_s
        clock.advance_to(t)
        seen.append(int(redis_client.exists("rag:l1:ann:question")))
    assert redis_client.exists("rag:l1:ann:lasting")
    return seen


@pytest.mark.parametrize("lag_s", [0.0, 0.4, 7.0, 25.0])
def test_an_entry_expires_at_the_same_step_whatever_the_wall_time(redis_client, lag_s):
    seen = lives(redis_client, lag_s)
    # present up to 3,300 s of simulated time, gone from 3,600 s (its TTL) on
    assert seen == [1] * 11 + [0] * 3


def test_a_replay_starts_from_empty_caches(redis_client):
    redis_client.set("rag:l1:ann:question", b"answer", ex=3_600)
    redis_client.set("rag:sem:ann:1", b"vector")
    redis_client.set("other:key", b"kept")  # not the service's: left alone
    clock = cr.SimClock(redis_client, quantum_s=300)
    assert clock.clear() == 2
    assert redis_client.keys("rag:*") == [] and redis_client.get("other:key") == b"kept"
