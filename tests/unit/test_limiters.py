"""The limits are parts (``Parts.limiters``, ``rag_core.parts.build_limiters``): one gate, one set
of work slots, one write quota and one user-limits table per ``Parts``, frozen, made of the
parts' Settings; a variant under other limits gets its own, sharing the user-limits table, and
one under other pipeline settings keeps them. In process: the gate's counts in Redis are
tests/integration/test_rate_limits_redis.py's."""

from __future__ import annotations

import dataclasses

import pytest

from rag_core.limits import QuestionGate
from rag_core.parts import Parts, build_limiters, variant, with_settings
from rag_core.pipeline import Pipeline
from rag_core.store.user_limits import MemoryUserLimits


def test_with_every_question_limit_off_there_is_no_gate(memory_parts: Parts) -> None:
    limiters = memory_parts.limiters  # the ci profile: every question limit off
    assert limiters.gate is None
    assert limiters.quota.limit == memory_parts.settings.auth.write_quota_bytes
    assert limiters.quota.redis is None  # no Redis named: counted in process


def test_the_limits_of_the_settings_make_the_gate_slots_and_quota(memory_parts: Parts) -> None:
    settings = memory_parts.settings.with_overrides(rate_limit_per_minute=3, work_slots=2,
                                                    write_quota_chunks=7)
    table = MemoryUserLimits()
    limiters = build_limiters(settings, None, table, clock=lambda: 60.0)
    assert isinstance(limiters.gate, QuestionGate)
    assert limiters.gate.section == settings.limits and limiters.gate.own.table is table
    assert limiters.gate.clock() == 60.0 and limiters.quota.clock() == 60.0
    assert limiters.slots.size == 2 and limiters.quota.chunk_limit == 7
    assert limiters.user_limits is table
    with pytest.raises(dataclasses.FrozenInstanceError):
        limiters.gate = None  # type: ignore[misc]


def test_a_variant_under_other_limits_gets_its_own_and_shares_the_table(
        memory_parts: Parts) -> None:
    limited = with_settings(memory_parts, rate_limit_per_minute=3, work_slots=1)
    assert limited.limiters is not memory_parts.limiters
    assert isinstance(limited.limiters.gate, QuestionGate) and limited.limiters.slots.size == 1
    assert limited.limiters.user_limits is memory_parts.limiters.user_limits
    again = variant(limited, settings=limited.settings.with_overrides(write_quota_bytes=4096))
    assert again.limiters.quota.limit == 4096
    assert again.limiters.user_limits is memory_parts.limiters.user_limits


def test_other_pipeline_settings_keep_the_limits(memory_parts: Parts) -> None:
    swept = with_settings(memory_parts, top_k=3)
    assert swept.limiters is memory_parts.limiters
    assert variant(memory_parts, sanitiser=False).limiters is memory_parts.limiters


def test_every_pipeline_of_the_parts_takes_turns_in_their_one_set_of_slots(
        memory_parts: Parts) -> None:
    one, two = Pipeline(memory_parts), Pipeline(memory_parts)
    assert one.slots is two.slots is memory_parts.limiters.slots
