"""The request limits' settings and arithmetic: a bad value (negative, not a number, a tier file
that is not JSON or not three numbers) stops the service at start naming its variable, in the
app as in the CLI; which limits apply (own over tier over defaults, an unknown tier never
unlimited); a sliding window's remaining count and reset."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from rag_core.cli.main import main
from rag_core.config import Settings
from rag_core.limits.policy import RateLimits, WindowCount, limits_for

BAD = [
    ("RAG_RATE_LIMIT_PER_MINUTE", "-1"),
    ("RAG_RATE_LIMIT_PER_HOUR", "ten"),
    ("RAG_RATE_LIMIT_PER_DAY", "2.5"),
    ("RAG_MAX_CONCURRENT_QUERIES", "-5"),
    ("RAG_MAX_QUERIES_PER_HOUR", "lots"),
    ("RAG_USER_MAX_IN_FLIGHT", "-1"),
    ("RAG_RATE_TIERS", "{premium: [60, 1000, 5000]}"),
    ("RAG_RATE_TIERS", '{"premium": [60, 1000]}'),
    ("RAG_RATE_TIERS", '{"premium": [60, -1, 5000]}'),
    ("RAG_RATE_TIERS", '["premium"]'),
]


@pytest.mark.parametrize(("name", "value"), BAD)
def test_a_bad_limit_setting_is_an_error_naming_its_variable(
        name: str, value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as refused:
        Settings()
    assert name in str(refused.value)


@pytest.mark.parametrize(("name", "value"), BAD[:1] + BAD[6:7])
def test_the_app_and_the_cli_refuse_to_start_naming_the_variable(
        name: str, value: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from rag_core import app

    monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as stopped:
        app._module_app()
    assert "INVALID_SETTINGS" in str(stopped.value.code) and name in str(stopped.value.code)
    assert main(["limits", "show", "ann"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error INVALID_SETTINGS") and name in err


def test_good_values_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_RATE_LIMIT_PER_MINUTE", "0")
    monkeypatch.setenv("RAG_RATE_TIERS", '{"premium": [60, 1000, 5000], "free": [5, 50, 0]}')
    limits = Settings().limits
    assert limits.rate_limit_per_minute == 0
    assert limits.rate_tiers == {"premium": [60, 1000, 5000], "free": [5, 50, 0]}


def test_own_limits_win_over_the_tier_and_an_unknown_tier_gets_the_defaults() -> None:
    section = Settings(profile="prod", rate_tiers={"premium": [60, 1000, 5000]}).limits
    assert limits_for(section) == (RateLimits(10, 100, 500), "default")
    assert limits_for(section, "premium") == (RateLimits(60, 1000, 5000), "tier:premium")
    for forged in ("PREMIUM", "admin", None, 1, {"premium": 1}):
        assert limits_for(section, forged) == (RateLimits(10, 100, 500), "default")
    own = RateLimits(5, None, 0)
    assert limits_for(section, "premium", own) == (RateLimits(5, 1000, 0),
                                                   "own over tier:premium")
    assert limits_for(section, None, RateLimits(1, 2, 3)) == (RateLimits(1, 2, 3), "own")


def test_a_sliding_window_counts_the_previous_window_by_what_it_still_covers() -> None:
    # 10 a minute; 8 in the previous minute, 3 in this one, 15 s into it: 8 * 45/60 + 3 = 9
    count = WindowCount("minute", 60, 10, current=3, previous=8, elapsed=15)
    assert count.estimate() == 9 and count.admits() and count.remaining() == 1
    # one more slot than now (2) once the previous minute's weight is down to 5: t = 7.5 s
    assert count.reset() == pytest.approx(7.5)
    full = WindowCount("minute", 60, 10, current=4, previous=8, elapsed=15)  # 10: full
    assert not full.admits() and full.remaining() == 0
    assert full.reset() == pytest.approx(7.5)  # 8 * (45 - t)/60 + 4 <= 9: t = 7.5 s
    fresh = WindowCount("minute", 60, 3, current=3, previous=0, elapsed=0)
    assert fresh.reset() == pytest.approx(80)  # the next minute, a third of the way in


def test_a_change_of_own_limits_is_read_again_within_the_cache_time() -> None:
    from rag_core.limits.own import OWN_LIMITS_TTL_S, OwnLimits
    from rag_core.store.user_limits import MemoryUserLimits

    now = [100.0]
    table = MemoryUserLimits()
    own = OwnLimits(table, clock=lambda: now[0])
    assert OWN_LIMITS_TTL_S <= 10  # the bound
    assert own.read("ann") is None  # no limits of her own, remembered
    table.set("ann", (7, None, None))
    now[0] += OWN_LIMITS_TTL_S - 0.1
    assert own.cached("ann") == (True, None)  # still the cached read: no database trip
    now[0] += 0.1
    assert own.cached("ann")[0] is False
    assert own.read("ann") == RateLimits(7, None, None)

