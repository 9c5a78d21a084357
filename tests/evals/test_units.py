from evals import units


def test_dollars_rates_counts_times_and_scores_have_their_units():
    assert units.fmt_value("cache.monthly_cost_1000", 68.64) == "$68.64"
    assert units.fmt_value("quality.cost_usd", 0.000213) == "$0.000213"
    assert units.fmt_value("quality.cost_usd", 5.44e-05) == "$0.0000544"
    assert units.fmt_delta("cache.monthly_cost_1000", 68.64) == "+$68.64"
    assert units.fmt_value("cache.hit_rate", 0.175) == "17.5 %"
    assert units.fmt_delta("cache.hit_rate", 0.0125) == "+1.2 pp"
    assert units.fmt_value("cache.cost_reduction", 0.5) == "50.0 %"
    assert units.fmt_value("quality.cross_user_leaks", 11) == "11"
    assert units.fmt_delta("quality.cross_user_leaks", 11.0, 11) == "+11"
    assert units.fmt_value("quality.n", 1204) == "1,204"
    assert units.fmt_value("load.p95_ms", 412.4) == "412 ms"
    assert units.fmt_delta("load.p95_ms", -12.4) == "-12 ms"
    assert units.fmt_value("chaos.recovery_s", 3.46) == "3.5 s"
    assert units.fmt_value("quality.recall_at_5", 0.89) == "0.8900"
    assert units.fmt_delta("quality.recall_at_5", -0.01) == "-0.0100"
    assert units.fmt_delta("quality.recall_at_5", None) == "new"
    assert units.fmt_value("quality.x", None) == "-"
