"""The bill's settle and the metrics on the request path never raise into a request: a usage
that is negative or past the reservation is billed as counted and never past the ceiling; a
ledger that fails while settling is logged and counted, the reservation released; a metric
update that fails (a negative counter increment, wrong labels) is swallowed and logged."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag_core.config import Settings
from rag_core.costs import reporting
from rag_core.costs.billing import Bill
from rag_core.costs.ledger import CostLedger, Reservation, ledger_for, price
from rag_core.llm import usage as usage_check
from rag_core.llm.base import Prompt
from rag_core.telemetry import metrics
from rag_core.telemetry.metric_types import Counter, Gauge, Histogram
from rag_core.tokens import default_counter
from rag_core.types import TokenUsage

PROMPT = Prompt(messages=[{"role": "user", "content": "How long did Nehemiah take to build "
                                                      "the wall of Jerusalem?"}],
                question="How long?", max_tokens=100)


def settings(tmp_path: Path) -> Settings:
    return Settings(price_input_per_token_usd=1e-6, price_output_per_token_usd=2e-6, llm="hf",
                    state_dir=tmp_path)


def open_bill(ledger: CostLedger, s: Settings) -> Bill:
    return Bill.open(ledger, s.money, default_counter(), generator="hf", user_id="amara",
                     prompt=PROMPT, provider="llm")


@pytest.mark.parametrize(("reported", "reason"), [
    (TokenUsage(-10_000_000, -5_000_000), "negative"),
    (TokenUsage(10**12, 10**12), "over_reservation")])
def test_a_usage_the_reservation_cannot_hold_is_billed_as_counted(
        tmp_path: Path, reported: TokenUsage, reason: str) -> None:
    s = settings(tmp_path)
    ledger = ledger_for(None, s)
    bill = open_bill(ledger, s)
    before = metrics.REGISTRY.get_sample_value("llm_usage_rejected_total",
                                               {"provider": "llm", "reason": reason}) or 0
    billed = bill.settle("Fifty-two days.", reported)
    counter = default_counter()
    assert billed == TokenUsage(counter.count_messages(PROMPT.messages),
                                counter.count("Fifty-two days."))
    assert bill.usage_source == "counted" and 0 < bill.cost <= bill.ceiling
    assert reporting.spend(ledger, "amara") == pytest.approx(bill.cost)
    assert metrics.REGISTRY.get_sample_value("llm_usage_rejected_total",
                                             {"provider": "llm", "reason": reason}) == before + 1


def test_a_usage_within_the_ceiling_is_the_providers(tmp_path: Path) -> None:
    s = settings(tmp_path)
    ledger = ledger_for(None, s)
    bill = open_bill(ledger, s)
    bill.settle("Fifty-two days.", TokenUsage(20, 100))
    assert bill.usage_source == "provider" and bill.cost == price(TokenUsage(20, 100), s.money)
    assert bill.ceiling == price(usage_check.ceiling(bill.prompt_tokens, 100), s.money)


class FailingLedger(CostLedger):
    """A ledger whose commit breaks (a bug, a full disk): the failure, not Redis, at the edge."""

    def commit(self, reservation: Reservation, actual_usd: float, usage: TokenUsage) -> None:
        raise RuntimeError("the ledger broke")


def test_a_settle_that_fails_is_logged_counted_and_never_raises(tmp_path: Path) -> None:
    s = settings(tmp_path)
    base = ledger_for(None, s)
    ledger = FailingLedger(None, s.money, None, base.queue)
    bill = open_bill(ledger, s)
    assert reporting.reserved(ledger, "amara") > 0
    before = metrics.REGISTRY.get_sample_value("cost_settle_failures_total") or 0
    bill.settle("Fifty-two days.", TokenUsage(20, 10))  # does not raise
    assert metrics.REGISTRY.get_sample_value("cost_settle_failures_total") == before + 1
    assert bill.settled and reporting.spend(ledger, "amara") >= 0


def test_a_negative_cost_never_enters_the_ledger(tmp_path: Path) -> None:
    s = settings(tmp_path)
    ledger = ledger_for(None, s)
    reservation = ledger.reserve("amara", 0.01)
    ledger.commit(reservation, -5.0, TokenUsage(-10, -5))
    assert reporting.spend(ledger, "amara") == 0.0 and reporting.global_spend(ledger) == 0.0


def test_metric_updates_never_raise() -> None:
    from prometheus_client import CollectorRegistry

    registry = CollectorRegistry()
    counter = Counter("t_counter_total", "t", ["kind"], registry=registry)
    counter.labels(kind="input").inc(-5)  # a negative increment: swallowed
    counter.labels("a", "b").inc()  # the wrong labels: swallowed
    Gauge("t_gauge", "t", registry=registry).set("not a number")  # type: ignore[arg-type]
    Histogram("t_histogram", "t", registry=registry).observe("x")  # type: ignore[arg-type]
    assert registry.get_sample_value("t_counter_total", {"kind": "input"}) == 0


def test_every_registered_metric_is_of_the_safe_types() -> None:
    import rag_core.app  # noqa: F401 - registers every module's metrics

    unsafe = sorted(getattr(c, "_name", repr(c))
                    for c in list(metrics.REGISTRY._collector_to_names)
                    if hasattr(c, "_name") and not isinstance(c, Counter | Gauge | Histogram))
    assert unsafe == []


def test_a_rejection_is_logged_once_per_provider_and_reason(
        caplog: pytest.LogCaptureFixture) -> None:
    usage_check.forget_logged()
    with caplog.at_level("WARNING", logger="rag_core.llm.usage"):
        for _ in range(3):
            usage_check.checked_usage("llm", {"prompt_tokens": -1, "completion_tokens": -1},
                                      prompt_tokens=10, max_tokens=100,
                                      output_tokens=lambda: 5)
        usage_check.checked_usage("llm_fallback", None, prompt_tokens=10, max_tokens=100,
                                  output_tokens=lambda: 5)
    logged = [r for r in caplog.records if r.name == "rag_core.llm.usage"]
    assert [r.fields["provider"] for r in logged] == ["llm", "llm_fallback"]  # type: ignore[attr-defined]
    assert [r.fields["reason"] for r in logged] == ["negative", "missing"]  # type: ignore[attr-defined]
