"""The load report's requests by kind (``evals.load.kinds``): follow-ups apart."""

from __future__ import annotations

import pandas as pd

from evals.load import kinds


def test_follow_ups_are_shown_apart_from_the_questions_that_open_a_conversation() -> None:
    events = pd.DataFrame([
        {"kind": "conversation", "ms": 100.0, "outcome": "miss"},
        {"kind": "conversation", "ms": 300.0, "outcome": "hit"},
        {"kind": "followup", "ms": 500.0, "outcome": "miss"},
        {"kind": "followup", "ms": 700.0, "outcome": "error"},
    ])
    table = kinds.by_kind(events).set_index("kind")
    assert table.loc["followup", "requests"] == 2
    assert table.loc["followup", "p50_ms"] == 600.0
    assert table.loc["followup", "error_share"] == 0.5
    assert table.loc["conversation", "cache_hit_share"] == 0.5
    assert "| followup | 2 |" in kinds.markdown(kinds.by_kind(events))
    assert kinds.by_kind(events.iloc[0:0]).empty
