"""The synthetic query log, the replay arithmetic, and one replay through the real pipeline."""

from __future__ import annotations

import pandas as pd
import pytest
from test_querylog import LIBS  # tests/ has no packages: its modules import by name

from evals.cache import replay as cr
from evals.datasets import querylog as ql

# --- the query log -------------------------------------------------------------------------


def test_sim_clock_moves_in_quanta_and_drives_the_memory_cache():
    from rag_core.cache.memory import MemoryCache

    clock = cr.SimClock(None, quantum_s=300)
    cache = MemoryCache("context", clock=clock)
    cache.set("k", b"v", 3_600)
    clock.advance_to(299)
    assert clock() == 0 and clock.steps == 0
    clock.advance_to(3_599)
    assert clock() == 3_300 and cache.get("k") == b"v"
    clock.advance_to(3_600)
    assert clock() == 3_600 and cache.get("k") is None
    clock.advance_to(10)  # never backwards
    assert clock() == 3_600


@pytest.mark.parametrize("cache,generator,expected", [
    ({"query": "hit", "embedding": "off"}, "extractive", "l1"),
    ({"query": "semantic_hit", "semantic": "semantic_hit"}, "extractive", "semantic"),
    ({"query": "miss", "semantic": "miss"}, "extractive", "llm"),
    ({"query": "miss", "semantic": "miss"}, "none", "no_context"),
    ({}, "none", "no_context"),
    ({"query": "hit", "embedding": "off"}, "none", "no_context"),  # remembered by L1
])
def test_classify(cache, generator, expected):
    assert cr.classify(cache, generator) == expected


def _rows() -> pd.DataFrame:
    return pd.DataFrame([
        {"t": 0, "kind": "repeat", "outcome": "llm", "embedding": "miss", "context": "miss",
         "input_tokens": 600, "output_tokens": 80, "generator": "extractive"},
        {"t": 10, "kind": "repeat", "outcome": "l1", "embedding": "off", "context": "off",
         "input_tokens": 0, "output_tokens": 0, "generator": "extractive"},
        {"t": 20, "kind": "paraphrase", "outcome": "semantic", "embedding": "miss",
         "context": "off", "input_tokens": 0, "output_tokens": 0, "generator": "extractive"},
        {"t": 4000, "kind": "novel", "outcome": "no_context", "embedding": "hit",
         "context": "miss", "input_tokens": 0, "output_tokens": 0, "generator": "none"},
        {"t": 4100, "kind": "edit", "outcome": "edit"},
        {"t": 4200, "kind": "repeat", "outcome": "llm", "embedding": "hit", "context": "miss",
         "input_tokens": 400, "output_tokens": 40, "generator": "extractive"},
    ])


def test_layer_rates_add_up():
    rates = cr.layer_rates(_rows())
    assert rates["requests"] == 5 and rates["edits"] == 1
    assert rates["l1_hit_rate"] == pytest.approx(0.2)
    assert rates["semantic_hit_rate"] == pytest.approx(0.2)
    assert rates["hit_rate"] == pytest.approx(0.4)
    assert rates["semantic_share_of_l1_misses"] == pytest.approx(0.25)
    assert rates["l2_hit_rate"] == pytest.approx(0.5)  # 2 of 4 lookups
    assert rates["l3_hit_rate"] == pytest.approx(0.0)
    assert rates["llm_calls"] == 2 and rates["llm_calls_saved"] == 2
    assert rates["llm_calls_without_cache"] == 4
    assert rates["no_context_rate"] == pytest.approx(0.2)


def test_layer_rates_of_nothing_are_none():
    rates = cr.layer_rates(pd.DataFrame(columns=["t", "outcome", "embedding"]))
    assert rates["requests"] == 0 and rates["hit_rate"] is None


def test_rates_over_time_and_by_kind():
    over = cr.rates_over_time(_rows(), 3600)
    assert list(over["bucket_start_h"]) == [0.0, 1.0]
    assert list(over["requests"]) == [3, 2]
    assert over.loc[0, ["l1", "semantic", "llm"]].tolist() == pytest.approx([1 / 3] * 3)
    kinds = cr.outcome_by_kind(_rows())
    assert kinds.loc["paraphrase", "semantic"] == 1.0
    assert kinds.loc["repeat", "requests"] == 3


def test_mean_tokens_and_price():
    assert cr.mean_tokens(_rows()) == (500.0, 60.0)
    from rag_core.config import Settings

    settings = Settings(price_input_per_token_usd=1e-6, price_output_per_token_usd=2e-6)
    assert cr.cost_per_call(500, 60, settings) == pytest.approx(500e-6 + 120e-6)


def test_billed_per_call_follows_the_services_bill():
    """The extractive generator is free in the service (FREE_GENERATORS): it bills nothing and
    a hit on its answer saves nothing; a priced generator's call costs the call's price."""
    from rag_core.costs.billing import FREE_GENERATORS

    assert "extractive" in FREE_GENERATORS
    assert cr.billed_per_call("extractive", 0.001) == 0.0
    assert cr.billed_per_call("none", 0.001) == 0.0
    assert cr.billed_per_call("hf", 0.001) == pytest.approx(0.001)


def test_spent_beside_saved_per_layer():
    """As the service counts them (billed_usd): $0 for the free extractive generator; beside
    them every call priced at the projection's price (priced_usd)."""
    table = cr.spent_and_saved(_rows(), 0.001).set_index("layer")
    assert table.loc["llm", "dollars"] == "spent" and table.loc["llm", "requests"] == 2
    assert table.loc["query", "priced_usd"] == pytest.approx(0.001)
    assert table.loc["semantic", "priced_usd"] == pytest.approx(0.001)
    assert table.loc["llm", "priced_usd"] == pytest.approx(0.002)
    assert table["billed_usd"].sum() == 0  # the service bills and saves nothing for it
    assert table["requests"].sum() == 4  # the no-context answer neither spends nor saves
    priced = _rows().assign(generator=lambda r: r["generator"].replace("extractive", "hf"))
    table = cr.spent_and_saved(priced, 0.001).set_index("layer")
    assert table["billed_usd"].tolist() == pytest.approx(table["priced_usd"].tolist())
    assert table.loc["llm", "billed_usd"] == pytest.approx(0.002)
    empty = cr.spent_and_saved(_rows().iloc[:0], 0.001)
    assert empty["billed_usd"].sum() == 0 and empty["priced_usd"].sum() == 0


def test_project_costs_scale_linearly_and_reduce_by_the_saved_share():
    rates = cr.layer_rates(_rows())
    costs = cr.project_costs(rates, 0.001, scales=(100, 1000), requests_per_user_per_day=10)
    first = costs.iloc[0]
    assert first["requests_per_month"] == 100 * 10 * 30
    assert first["llm_calls_without_cache"] == pytest.approx(30_000 * 4 / 5)
    assert first["cost_with_cache_usd"] == pytest.approx(30_000 * 2 / 5 * 0.001)
    assert costs.iloc[1]["cost_with_cache_usd"] == pytest.approx(10 * first["cost_with_cache_usd"])
    assert cr.cost_reduction(costs) == pytest.approx(0.5)
    flat = cr.costs_metrics(costs)
    assert flat["users_1000"]["without_cache_usd"] == pytest.approx(240.0)


def test_sweep_points_skip_the_main_point():
    points = cr.sweep_points([3600, 86400], [0.85, 0.92], 86400, 0.92)
    assert points == [{"query_ttl_s": 3600.0, "semantic_threshold": 0.92},
                      {"query_ttl_s": 86400, "semantic_threshold": 0.85}]


def test_redis_db_url():
    assert cr.redis_db_url("redis://127.0.0.1:6379/0", 11) == "redis://127.0.0.1:6379/11"
    assert cr.redis_db_url("redis://:pw@h:1", 3) == "redis://:pw@h:1/3"
    assert cr.redis_db_url("rediss://h:1/2?ssl=true", 5) == "rediss://h:1/5?ssl=true"
    # the embedded Redis' socket (issue 79)
    assert cr.redis_db_url("unix:///s/redis/redis.sock?db=0", 11) == \
        "unix:///s/redis/redis.sock?db=11"
    assert cr.redis_db_url("unix://:pw@/s/r.sock", 2) == "unix://:pw@/s/r.sock?db=2"


# --- one replay through the real pipeline --------------------------------------------------


@pytest.mark.integration
def test_replay_hits_l1_and_an_edit_invalidates(live_settings, tmp_path):
    from evals.datasets import golden
    from evals.quality import evaluate as quality

    cr.single_threaded()
    # five notes a library keep the ingestion (embedding) short
    notes = {lib: found[:5] for lib, found in cr.library_notes().items() if lib in ("amara", "ben")}
    qa = golden.load_qa()

    def factual(user: str) -> list[str]:
        keep = {n.id for n in notes[user]}
        rows = qa[(qa["user_id"] == user) & (qa["scenario"] == "factual")]
        return [r.question for r in rows.itertuples() if set(r.reference_note_ids) <= keep]

    mine, other = factual("amara"), factual("ben")
    u, v = "t-amara-000", "t-ben-001"
    note_id = notes["amara"][0].id

    def ev(t: float, user: str, kind: str, text: str, source: str = "") -> ql.Event:
        return ql.Event(t, user, "amara" if user == u else "ben", kind, text, source)

    events = [
        ev(0, u, "repeat", mine[0]), ev(60, v, "repeat", other[0]),
        ev(120, u, "repeat", mine[0]),  # 2: L1 hit
        ev(180, u, "repeat", mine[1]), ev(240, v, "repeat", other[0]),  # 4: v's L1 hit
        ev(300, u, "repeat", mine[1].upper()),  # 5: normalised, L1 hit
        ev(360, u, "edit", "Added later: a new line.", note_id),  # 6
        ev(420, u, "repeat", mine[0]),  # 7: after the edit, a miss
        ev(480, v, "repeat", other[0]),  # 8: the other user keeps its entry
        ev(540, u, "repeat", mine[0]),  # 9: cached again
        ev(600, u, "novel", mine[2]), ev(660, v, "novel", other[1]),
        ev(660 + 7_200, v, "repeat", other[0]),  # 12: two hours later, past the 1 h TTL
    ]
    settings = cr.cache_settings(query_ttl_s=3_600, semantic_threshold=0.92,
                                 base=live_settings.with_overrides(state_dir=tmp_path),
                                 database=None, redis_db=11)
    base = quality.build_pipeline(settings)
    try:
        rows = cr.run_replay(base, events, notes, query_ttl_s=3_600, semantic_threshold=0.92,
                             quantum_s=60)
        out = rows["outcome"].tolist()
        assert out[0] == "llm" and out[2] == "l1"
        assert out[4] == "l1" and out[5] == "l1"
        assert out[6] == "edit" and rows.loc[6, "notes_version"] >= 2
        assert rows.loc[7, "query"] == "miss" and out[7] != "l1"
        assert out[8] == "l1" and out[9] == "l1"
        assert rows.loc[12, "query"] == "miss" and out[12] == "llm"
        assert rows.attrs["expired"] > 0
        rates = cr.layer_rates(rows)
        counts = rows["outcome"].value_counts()
        assert rates["requests"] == 12 and rates["edits"] == 1
        assert counts.get("l1", 0) + counts.get("semantic", 0) == rates["llm_calls_saved"]
        assert sum(counts.get(o, 0) for o in cr.OUTCOMES) == 12
        assert rates["llm_calls"] + rates["llm_calls_saved"] == rates["llm_calls_without_cache"]
        assert rows.loc[rows["outcome"] == "llm", "input_tokens"].gt(0).all()
        assert set(rows.loc[rows["outcome"] == "llm", "generator"]) == {"extractive"}
        spent = cr.spent_and_saved(rows, 0.001)  # free in the service, priced in the projection
        assert spent["billed_usd"].sum() == 0 and spent["priced_usd"].sum() > 0
        # a second replay starts from fresh copies and cold caches
        again = cr.run_replay(base, events[:3], notes, query_ttl_s=3_600,
                              semantic_threshold=0.92)
        assert again["outcome"].tolist()[0] != "l1" and again.loc[2, "outcome"] == "l1"
    finally:
        assert cr.remove_users(base, [u, v]) == 10
        base.parts.close()


def test_first_users_and_main_point():
    events = ql.generate_log(LIBS, ql.LogConfig(users=4, days=1, seed=1))
    some = ql.first_users(events, 2)
    assert {e.user for e in some} == {"sim-amara-000", "sim-ben-001"}
    assert ql.first_users(events, 0) == events
    rows = _rows().assign(user=["a", "a", "a", "b", "b", "b"])
    swept = pd.DataFrame([cr.sweep_row(3600, 0.92, cr.layer_rates(rows))])
    table = cr.with_main_point(swept, rows, ["a"], 86_400, 0.92)
    assert list(table["query_ttl_s"]) == [3600, 86_400]
    assert table.loc[1, "requests"] == 3 and table.loc[1, "hit_rate"] == pytest.approx(2 / 3)


def test_to_metrics_carries_the_gated_names():
    rates = cr.layer_rates(_rows())
    costs = cr.project_costs(rates, 0.001)
    pairs = {"semantic_precision": 1.0, "semantic_recall": 0.5,
             "semantic_false_hit_rate": 0.0, "dev.semantic_recall": 0.6}
    metrics = cr.to_metrics(rates, costs, pairs, (500.0, 60.0), 0.001, ceiling=0.25)
    for name in ("hit_rate", "l1_hit_rate", "semantic_hit_rate", "l2_hit_rate",
                 "cost_reduction", "llm_calls_saved", "semantic_false_hit_rate",
                 "semantic_precision", "semantic_recall"):
        assert name in metrics
    assert metrics["cost_reduction"] == pytest.approx(0.5)
    assert metrics["exact_match_ceiling"] == 0.25 and metrics["dev.semantic_recall"] == 0.6
    assert metrics["hit_rate_over_ceiling"] == pytest.approx(metrics["hit_rate"] - 0.25)
    assert set(metrics["monthly_cost"]) == {"users_100", "users_1000", "users_10000"}


def test_repeat_ceiling_counts_repeats_inside_the_ttl():
    def ev(t: float, text: str, user: str = "u") -> ql.Event:
        return ql.Event(t, user, "amara", "repeat", text)

    events = [ev(0, "Who?"), ev(10, "who"), ev(20, "Who?", "w"), ev(100, "Who?"),
              ql.Event(5, "u", "amara", "edit", "x", "n1")]
    assert ql.repeat_ceiling(events) == pytest.approx(2 / 4)
    assert ql.repeat_ceiling(events, ttl_s=50) == pytest.approx(1 / 4)  # stored again at 100
    assert ql.repeat_ceiling([]) == 0.0


def test_plots_write_pngs(tmp_path):
    from evals.cache import plots as cache_plots

    rows = _rows()
    over = cr.rates_over_time(rows, 3600)
    assert cache_plots.plot_over_time(over, tmp_path / "t.png", 1).stat().st_size > 1000
    costs = cr.project_costs(cr.layer_rates(rows), 0.001)
    assert cache_plots.plot_costs(costs, tmp_path / "c.png").stat().st_size > 1000
    swept = pd.DataFrame([cr.sweep_row(t, s, cr.layer_rates(rows))
                          for t, s in ((3600, 0.92), (86_400, 0.92), (86_400, 0.85))])
    pairs = pd.DataFrame([{"threshold": 0.85, "false_hit_rate": 0.0, "recall": 0.1},
                          {"threshold": 0.92, "false_hit_rate": 0.0, "recall": 0.0}])
    path = cache_plots.plot_sweeps(swept, pairs, 86_400, 0.92, tmp_path / "s.png")
    assert path.stat().st_size > 1000


@pytest.mark.integration
def test_replay_of_an_own_log_and_notes_folder(live_settings, tmp_path):
    """``--param query_log=PATH --param notes=PATH``: a JSON-lines log and a folder per user."""
    import json
    import shutil

    from evals.datasets import traffic
    from evals.paths import GOLDEN_DIR
    from evals.quality import evaluate as quality

    folder = tmp_path / "notes" / "kim"
    folder.mkdir(parents=True)
    for name in ("amara-001.md", "amara-002.md"):
        shutil.copy(GOLDEN_DIR / "notes" / "amara" / name, folder / name)
    question = "How old was Abraham when he left Haran?"
    log = tmp_path / "log.jsonl"
    log.write_text("".join(json.dumps(r) + "\n" for r in [
        {"ts": "2026-03-01T08:00:00Z", "user": "kim", "question": question},
        {"ts": "2026-03-01T08:05:00Z", "user": "kim", "question": question.lower()},
        {"ts": 1772352600, "user": "kim", "note_id": "amara-001", "event": "edit"},
        {"ts": "2026-03-01T08:15:00Z", "user": "kim", "question": question},
    ]))
    events = traffic.read_log(log)
    notes = cr.library_notes(notes_dir=tmp_path / "notes")
    traffic.check_notes(events, notes)
    assert ql.repeat_ceiling(events, 86_400) == pytest.approx(2 / 3)
    settings = cr.cache_settings(query_ttl_s=86_400, semantic_threshold=0.55,
                                 base=live_settings.with_overrides(state_dir=tmp_path),
                                 database=None, redis_db=11)
    base = quality.build_pipeline(settings)
    try:
        rows = cr.run_replay(base, events, notes, query_ttl_s=86_400, semantic_threshold=0.55)
        assert rows["outcome"].tolist() == ["llm", "l1", "edit", "llm"]
        assert cr.layer_rates(rows)["hit_rate"] == pytest.approx(1 / 3)
    finally:
        assert cr.remove_users(base, ["kim"]) == 2
        base.parts.close()
