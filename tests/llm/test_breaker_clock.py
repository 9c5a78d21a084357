"""The breaker's timing on a clock the test moves, in process (no Redis, no HTTP): the fast
lane's view of what tests/llm/test_breaker_chaos.py checks against the real servers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fakes import ManualClock

from rag_core.config import Settings
from rag_core.errors import LLMUnavailable
from rag_core.llm.base import Generation, Prompt
from rag_core.llm.failures import TransientLLMError
from rag_core.llm.prompt import build_prompt
from rag_core.llm.resilience import ResilientGenerator
from rag_core.types import TokenUsage


class Switch:
    """A generator at the edge that fails while ``down`` and counts its calls."""

    name = "switch"

    def __init__(self) -> None:
        self.down = False
        self.calls = 0

    def generate(self, prompt: Prompt) -> Generation:
        self.calls += 1
        if self.down:
            raise TransientLLMError("503 from the switch", status=503)
        return Generation(text="fine [1]", usage=TokenUsage(1, 1), model="switch")

    def stream(self, prompt: Prompt) -> Iterator[str]:
        yield self.generate(prompt).text


@pytest.fixture
def guarded(settings: Settings) -> tuple[ResilientGenerator, Switch, ManualClock]:
    switch, clock = Switch(), ManualClock()
    s = settings.with_overrides(breaker_fail_max=2, breaker_reset_timeout_s=30.0,
                                llm_max_retries=0)
    return ResilientGenerator(switch, s.model_calls, None, clock=clock), switch, clock  # type: ignore[arg-type]


def test_open_for_exactly_the_reset_timeout_then_one_probe(guarded) -> None:
    gen, switch, clock = guarded
    prompt = build_prompt("Q?", [], 50)
    switch.down = True
    for _ in range(2):
        with pytest.raises(LLMUnavailable):
            gen.generate(prompt)
    assert gen.state == "open" and switch.calls == 2
    with pytest.raises(LLMUnavailable) as info:
        gen.generate(prompt)
    assert info.value.retry_after == 30.0 and switch.calls == 2  # refused without a call
    clock.advance(29.5)
    assert gen.state == "open" and gen.retry_after() == 0.5
    clock.advance(1.0)
    assert gen.state == "half-open"
    with pytest.raises(LLMUnavailable):
        gen.generate(prompt)  # the probe fails: open again for a whole reset timeout
    assert gen.state == "open" and gen.retry_after() == 30.0 and switch.calls == 3
    switch.down = False
    clock.advance(30.5)
    for _ in range(3):  # RAG_BREAKER_SUCCESS_THRESHOLD good probes, one at a time, close it
        assert gen.state == "half-open"
        assert gen.generate(prompt).text == "fine [1]"
    assert gen.state == "closed" and gen.retry_after() == 1.0


def test_a_provider_that_answers_one_call_in_two_never_closes_the_breaker(
        guarded: tuple[ResilientGenerator, Switch, ManualClock]) -> None:
    """The flapping provider of the default threshold's reason (docs/runbook.md): good, bad,
    good, bad... With three good probes in a row needed, each bad one opens it again."""
    gen, switch, clock = guarded
    prompt = build_prompt("Q?", [], 50)
    switch.down = True
    for _ in range(2):
        with pytest.raises(LLMUnavailable):
            gen.generate(prompt)
    for _ in range(4):
        clock.advance(30.5)
        switch.down = False
        gen.generate(prompt)  # a good probe
        assert gen.state == "half-open"
        switch.down = True
        with pytest.raises(LLMUnavailable):
            gen.generate(prompt)  # the next probe fails: open again
        assert gen.state == "open"


def test_a_threshold_of_one_closes_on_the_first_good_probe(settings: Settings) -> None:
    switch, clock = Switch(), ManualClock()
    s = settings.with_overrides(breaker_fail_max=1, breaker_reset_timeout_s=30.0,
                                llm_max_retries=0, breaker_success_threshold=1)
    gen = ResilientGenerator(switch, s.model_calls, None, clock=clock)  # type: ignore[arg-type]
    switch.down = True
    with pytest.raises(LLMUnavailable):
        gen.generate(build_prompt("Q?", [], 50))
    switch.down = False
    clock.advance(31)
    gen.generate(build_prompt("Q?", [], 50))
    assert gen.state == "closed"


def test_the_opening_is_stamped_with_the_injected_clock(guarded) -> None:
    gen, switch, clock = guarded
    switch.down = True
    for _ in range(2):
        with pytest.raises(LLMUnavailable):
            gen.generate(build_prompt("Q?", [], 50))
    assert gen.storage.opened_stamp() == clock.now
    assert gen.storage.opened_at is not None
    assert gen.storage.opened_at.timestamp() == pytest.approx(clock.now)
