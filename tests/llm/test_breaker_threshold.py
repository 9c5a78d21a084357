"""The breaker closes after ``RAG_BREAKER_SUCCESS_THRESHOLD`` good probes in a row (3 by
default), with the real Redis and the mock LLM over HTTP made to fail on demand (an outage, or
``fail_next``: the next N completions fail)."""

from __future__ import annotations

import pytest
from fakes import ManualClock
from llm_helpers import configure, stats
from test_breaker_chaos import MakeSettings, client_of, gauge, outage, resilient

from rag_core.errors import LLMUnavailable
from rag_core.llm.prompt import build_prompt
from rag_core.types import Chunk

pytestmark = [pytest.mark.integration, pytest.mark.both_redis]


def test_outage_opens_after_fail_max_then_three_good_probes_close_it(
        mock_llm: str, chunks: list[Chunk], hf_settings: MakeSettings, redis_url: str) -> None:
    clock = ManualClock()
    settings = hf_settings(mock_llm)
    gen, tally = resilient(settings, client_of(redis_url, settings), clock=clock)
    prompt = build_prompt("Q?", chunks, 100)
    outage(mock_llm, 60)
    for _ in range(3):
        assert gen.state == "closed"
        with pytest.raises(LLMUnavailable):
            gen.generate(prompt)
    assert gen.state == "open" and stats(mock_llm)["requests"] == 3 and tally.failures == 3
    assert gauge() == 2
    for _ in range(5):  # refused at once: the dead LLM is not called (its counter stays at 3)
        with pytest.raises(LLMUnavailable) as info:
            gen.generate(prompt)
    assert info.value.retry_after == 30.0  # the whole reset timeout: the clock has not moved
    assert info.value.status == 503 and stats(mock_llm)["requests"] == 3
    outage(mock_llm, 0)  # the LLM is back
    clock.advance(29.9)
    assert gen.state == "open" and gen.retry_after() == pytest.approx(0.1)
    clock.advance(0.2)
    assert gen.state == "half-open"
    for probes in range(1, 4):  # RAG_BREAKER_SUCCESS_THRESHOLD (3) good probes in a row
        assert gen.state == "half-open"
        assert "[1]" in gen.generate(prompt).text
        assert gauge() == (1 if probes < 3 else 0)
    assert gen.state == "closed" and stats(mock_llm)["requests"] == 6 and gauge() == 0


def test_a_probe_failing_on_demand_among_the_good_ones_opens_it_again(
        mock_llm: str, chunks: list[Chunk], hf_settings: MakeSettings, redis_url: str) -> None:
    """The mock made to fail on demand (``fail_next``): two good probes, then one that fails:
    open again for a whole reset timeout, and the count of good probes starts over."""
    clock = ManualClock()
    settings = hf_settings(mock_llm)
    gen, tally = resilient(settings, client_of(redis_url, settings), clock=clock)
    prompt = build_prompt("Q?", chunks, 100)
    configure(mock_llm, fail_next=3)
    for _ in range(3):
        with pytest.raises(LLMUnavailable):
            gen.generate(prompt)
    assert gen.state == "open"
    clock.advance(31)
    for _ in range(2):
        gen.generate(prompt)
    assert gen.state == "half-open" and gen.storage.success_counter == 2
    configure(mock_llm, fail_next=1)
    with pytest.raises(LLMUnavailable):
        gen.generate(prompt)
    assert gen.state == "open" and gen.retry_after() == 30.0
    clock.advance(31)
    for _ in range(3):
        assert gen.state == "half-open"
        gen.generate(prompt)
    assert gen.state == "closed" and tally.successes == 5 and tally.failures == 4
    assert stats(mock_llm)["requests"] == 9
