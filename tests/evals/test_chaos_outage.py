"""Who answered during the chaos run's outage (evals/load/outage.py through chaos_summary): the
answers classified as degraded, 503 LLM_UNAVAILABLE and 503 OVERLOADED apart, the shares, the
second provider's share and its prices; the run's stated request limits and second provider."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from evals.load import limits, loadtest
from evals.load.outage import SecondProvider, outage_figures
from evals.load.stack import SECOND_MODEL, LoadConfig, second_provider
from loadtests import traffic

SECOND = SecondProvider("second", 0.00001, 0.00003)
ANSWER = {"answer": "x", "cache": {"query": "miss"}, "cost_usd": 0.0, "model": "first",
          "usage": {"input_tokens": 0, "output_tokens": 0}}


def event(t: float, outcome: traffic.Outcome, status: int = 200) -> dict[str, object]:
    return dict(json.loads(traffic.event_line(t, 10.0, "novel", outcome, status)))


def answer(**fields: object) -> traffic.Outcome:
    return traffic.classify(200, {}, {**ANSWER, **fields})


def test_a_degraded_answer_and_a_limit_s_refusal_have_outcomes_of_their_own() -> None:
    made = answer(degraded=True, degraded_reason="breaker_open: x", model="extractive")
    assert made.label == "degraded" and made.failure is None and made.model == "extractive"
    line = event(1.0, made)
    assert line["degraded"] is True and line["model"] == "extractive"
    busy = traffic.classify(503, {"Retry-After": "1"}, {"error": {"code": "OVERLOADED"}})
    assert busy.label == "limited" and busy.failure is None
    assert traffic.classify(503, {}, {"error": {"code": "OVERLOADED"}}).failure  # no Retry-After
    paid = answer(model="second", cost_usd=0.5, usage={"input_tokens": 7, "output_tokens": 3})
    assert (paid.label, paid.model, paid.in_tokens, paid.billed_out_tokens) == \
        ("miss", "second", 7, 3)
    for label in ("degraded", "limited"):
        assert traffic.outcome_of_name(traffic.request_name(label)) == label


def frame(rows: list[traffic.Outcome]) -> pd.DataFrame:
    lines = [event(10.0 + i, o, 503 if o.label.startswith("503") else 200)
             for i, o in enumerate(rows)]
    return pd.DataFrame(lines, columns=loadtest.read_events([]).columns)


def test_the_shares_of_the_outage_requests_count_each_refusal_apart() -> None:
    refused = traffic.Outcome("503 documented")
    during = frame([answer(degraded=True), answer(degraded=True), refused,
                    traffic.Outcome("limited"), answer(cache={"query": "hit"})])
    out = outage_figures(during)
    assert out["degraded_share"] == pytest.approx(2 / 5)
    assert out["unavailable_share"] == out["unavailable_503_share"] == pytest.approx(1 / 5)
    assert out["limited_share"] == pytest.approx(1 / 5)
    assert out["second_provider_share"] is None and out["second_provider_price_error_usd"] is None
    # with RAG_LLM_FALLBACK=none those 503s are the expected answer: nothing gated
    none = outage_figures(during, llm_fallback="none")
    assert none["unavailable_share"] is None and none["unavailable_503_share"] == 0.2


def test_the_second_provider_share_and_its_prices() -> None:
    billed = [answer(model="second", cost_usd=SECOND.price(100, 20),
                     usage={"input_tokens": 100, "output_tokens": 20}) for _ in range(3)]
    during = frame([*billed, answer(stale=True, model="first"),
                    answer(cache={"query": "hit"}, model="second")])
    out = outage_figures(during, second=SECOND)
    assert out["second_provider_share"] == pytest.approx(3 / 4)  # the hit needed no model
    assert out["second_provider_answers"] == 3
    assert out["second_provider_price_error_usd"] == pytest.approx(0.0, abs=1e-12)
    wrong = frame([answer(model="second", cost_usd=SECOND.price(100, 20) * 2,
                          usage={"input_tokens": 100, "output_tokens": 20})])
    assert outage_figures(wrong, second=SECOND)["second_provider_price_error_usd"] == \
        pytest.approx(SECOND.price(100, 20))


def test_chaos_summary_carries_the_outage_figures() -> None:
    events = frame([answer(degraded=True), traffic.Outcome("503 documented")])
    breaker = loadtest.breaker_timeline([(9.0, "closed"), (10.5, "open"), (13.0, "closed")])
    out = loadtest.chaos_summary(events, breaker, 10.0, 12.0)
    assert out["degraded_share"] == 0.5 and out["unavailable_share"] == 0.5
    assert out["opened"] and out["outage_requests"] == 2


def test_a_run_states_its_request_limits_and_its_second_provider() -> None:
    config = LoadConfig(second_provider=True, second_prices=(0.1, 0.2))
    params = loadtest.params_of(config)
    stated = limits.stated(config.extra_env)  # what the run's summary records
    assert stated and set(stated.values()) == {0}
    assert second_provider(config) == SecondProvider(SECOND_MODEL, 0.1, 0.2)
    assert second_provider(LoadConfig()) is None and params["llm_fallback"] == "extractive"


def test_the_breaker_sampler_takes_its_last_sample_when_told_and_ends() -> None:
    """After a run the sampler's last breaker sample is taken at once (no fixed pause):
    ``finish`` wakes it from its wait, it samples once more and the thread ends."""
    import time

    from evals.load.stack import Sampler
    from rag_core.procs import free_port

    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens: "unknown", no count
    sampler = Sampler(closed, closed, every_s=3600.0)
    sampler.start()
    bound = time.monotonic() + 60  # a generous bound on one refused connection, not a timing
    while not sampler.samples and time.monotonic() < bound:  # the first, taken as it starts
        time.sleep(0.01)
    assert sampler.samples, "the sampler took no first sample within 60 s"
    told = time.time()
    sampler.finish()
    assert not sampler.is_alive() and sampler.done.is_set()
    assert len(sampler.samples) == 2 and sampler.samples[-1][0] >= told
    assert sampler.samples[-1][1:] == ("unknown", None)
