import tomllib

import pytest

from evals import gates as g
from evals.paths import GATES_FILE


def gate(name="quality.recall_at_5", op="ge", threshold=0.8):
    return g.Gate(name=name, op=op, threshold=threshold, reason="because")


@pytest.mark.parametrize("op,value,threshold,passed", [
    ("ge", 0.8, 0.8, True), ("ge", 0.79, 0.8, False),
    ("le", 0.0, 0.0, True), ("le", 0.01, 0.0, False),
    ("eq", 1.0, 1.0, True), ("eq", 0.99, 1.0, False), ("eq", 0, 0.0, True),
    ("gt", 0.5, 0.5, False), ("lt", 0.4, 0.5, True),
])
def test_operators(op, value, threshold, passed):
    [result] = g.evaluate([gate(op=op, threshold=threshold)], {"quality.recall_at_5": value},
                          ran=["quality"])
    assert result.passed is passed
    assert result.status == ("passed" if passed else "failed")


def test_missing_metric_of_a_notebook_not_run_is_skipped():
    [result] = g.evaluate([gate("cache.hit_rate")], {"quality.recall_at_5": 1.0},
                          ran=["quality"])
    assert result.status == "skipped"
    assert result.passed is None
    assert result.value is None
    assert "not run" in result.note


def test_missing_metric_of_a_notebook_that_ran_fails():
    [result] = g.evaluate([gate("quality.mrr")], {"quality.recall_at_5": 1.0}, ran=["quality"])
    assert result.status == "failed"
    assert result.note == "metric not recorded"


def test_failed_notebook_fails_its_gates():
    [result] = g.evaluate([gate()], {}, ran=["quality"], failed=["quality"])
    assert result.status == "failed"
    assert "failed" in result.note


def test_null_value_means_nothing_to_measure():
    [result] = g.evaluate([gate()], {"quality.recall_at_5": None}, ran=["quality"])
    assert result.status == "skipped"


def test_failing_row_shows_the_reason():
    [result] = g.evaluate([gate()], {"quality.recall_at_5": 0.5}, ran=["quality"])
    assert result.note == "because"
    assert result.as_summary_row() == {"name": "quality.recall_at_5", "value": 0.5,
                                       "threshold": 0.8, "op": "ge", "passed": False}


def test_format_table_is_readable_and_can_show_only_failures():
    results = g.evaluate([gate(), gate("quality.leak_rate", "eq", 0.0)],
                         {"quality.recall_at_5": 0.41, "quality.leak_rate": 0.0},
                         ran=["quality"])
    table = g.format_table(results, only_failed=True)
    lines = table.splitlines()
    assert lines[0].split() == ["gate", "value", "op", "threshold", "status", "why"]
    assert len(lines) == 3  # header, rule, one failing row
    assert lines[2].split()[:5] == ["quality.recall_at_5", "0.41", ">=", "0.8", "FAILED"]
    assert "quality.leak_rate" in g.format_table(results)


def test_parse_rejects_bad_gates():
    with pytest.raises(ValueError, match="op must be"):
        g.parse_gates({"gate": [{"name": "a.b", "op": ">=", "value": 1, "reason": "x"}]})
    with pytest.raises(ValueError, match="lacks"):
        g.parse_gates({"gate": [{"name": "a.b", "op": "ge", "value": 1}]})
    with pytest.raises(ValueError, match="reason is empty"):
        g.parse_gates({"gate": [{"name": "a.b", "op": "ge", "value": 1, "reason": " "}]})
    twice = {"name": "a.b", "op": "ge", "value": 1, "reason": "x"}
    with pytest.raises(ValueError, match="twice"):
        g.parse_gates({"gate": [twice, twice]})


def test_profile_scoped_gates(tmp_path):
    path = tmp_path / "gates.toml"
    path.write_text('[[gate]]\nname = "a.b"\nop = "ge"\nvalue = 1\nreason = "x"\n'
                    'profiles = ["full"]\n')
    assert g.load_gates(path, "ci") == []
    assert [x.name for x in g.load_gates(path, "full")] == ["a.b"]


def test_the_project_gates_file_is_valid_and_explains_itself():
    gates = g.load_gates(GATES_FILE)
    names = {x.name for x in gates}
    assert {"quality.recall_at_5", "quality.no_context_accuracy", "quality.leak_rate",
            "quality.cross_user_leaks", "quality.citation_validity"} <= names
    raw = tomllib.loads(GATES_FILE.read_text())["gate"]
    assert all(len(row["reason"]) > 40 for row in raw), "every reason names measured values"


# --- the gate policy (the paragraph at the top of gates.toml) ---------------------------------

MEASURED = ("quality", "retrieval", "cache", "load", "chaos")  # ci gates record repeated runs


def test_recorded_gates_sit_outside_the_noise_of_their_figure():
    from evals.report.spread import Spread, check_gate

    for gate in g.load_gates(GATES_FILE):
        if not gate.measured or _zero_tolerance(gate):
            continue
        check = check_gate(gate, Spread(gate.name, gate.measured))
        assert check.verdict in ("outside the noise", "deterministic"), (
            f"{gate.name} {gate.op} {gate.threshold}: {check.verdict} of {gate.measured}")
        assert len(gate.measured) >= 3, f"{gate.name}: a spread needs at least 3 runs"


def _zero_tolerance(gate: g.Gate) -> bool:
    """A count of wrong outcomes gated at 0 (the rule's first line): its threshold is the only
    acceptable value, not a point set from a spread."""
    return gate.op in ("le", "eq") and gate.threshold == 0 and all(m == 0 for m in gate.measured)


def test_zero_tolerance_gates_measured_zero():
    zero = [x for x in g.load_gates(GATES_FILE) if x.op in ("le", "eq") and x.threshold == 0]
    assert zero, "the false-hit, leak and tenancy gates gate at 0"
    assert [x.name for x in zero if x.measured and any(m != 0 for m in x.measured)] == []


def test_gates_of_measured_notebooks_record_their_runs():
    unrecorded = [x.name for x in g.load_gates(GATES_FILE, "ci")
                  if x.prefix in MEASURED and not x.measured]
    assert unrecorded == [], "run `python -m evals spread` and record `measured`"


def test_no_gate_on_an_absolute_time():
    """Timing gates are ratios (to a baseline of the same run or to its configured timer)."""
    timed = [x.name for x in g.load_gates(GATES_FILE) if x.name.endswith(("_ms", "_s"))]
    assert timed == []


def test_measured_values_need_their_date_and_numbers():
    row = {"name": "a.b", "op": "ge", "value": 1, "reason": "x", "measured": [1.0, 1.1]}
    with pytest.raises(ValueError, match="measured_on"):
        g.parse_gates({"gate": [row]})
    with pytest.raises(ValueError, match="list of numbers"):
        g.parse_gates({"gate": [{**row, "measured": ["high"], "measured_on": "today"}]})
    [ok] = g.parse_gates({"gate": [{**row, "measured_on": "2026-11-22, abc, cmd"}]})
    assert ok.measured == (1.0, 1.1) and ok.measured_on.startswith("2026")
