"""The spread tool (evals/report/spread.py): pure parts on made-up summaries, and the CLI on
files."""

import json

import pytest

from evals import cli
from evals.gates import Gate
from evals.report import spread
from evals.report import summary as report


def summary(**metrics):
    return report.build_summary("ci", "t", None, [], metrics)


def gate(name="retrieval.recall_at_5", op="ge", threshold=0.95):
    return Gate(name=name, op=op, threshold=threshold, reason="because")


def test_collect_keeps_numbers_per_metric_in_run_order():
    spreads = spread.collect([summary(a=0.9, b=None, c=True, d="x"),
                              summary(a=0.7, b=2, c=False, e=float("nan")),
                              summary(a=0.8)])
    assert set(spreads) == {"a", "b", "c"}
    a = spreads["a"]
    assert a.values == (0.9, 0.7, 0.8) and a.n == 3
    assert (a.min, a.median, a.max) == (0.7, 0.8, 0.9) and a.range == pytest.approx(0.2)
    assert spreads["b"].values == (2.0,)  # a run that recorded nothing is left out
    assert spreads["c"].values == (1.0, 0.0)  # booleans are 1 / 0


@pytest.mark.parametrize("op,threshold,values,verdict,margin", [
    ("ge", 0.95, (0.981, 0.984, 0.990), "outside the noise", 0.031),
    ("ge", 0.98, (0.981, 0.984, 0.990), "inside the noise", 0.001),  # the case
    ("ge", 0.982, (0.981, 0.984, 0.990), "failed in a run", -0.001),
    ("le", 1.2, (0.4, 0.6, 0.9), "inside the noise", 0.3),
    ("le", 15.0, (5.1, 8.3, 10.1), "inside the noise", 4.9),
    ("le", 25.0, (5.1, 8.3, 10.1), "outside the noise", 14.9),
    ("le", 0.0, (0.0, 0.0, 0.0), "deterministic", 0.0),
    ("ge", 0.15, (0.181, 0.181, 0.181), "deterministic", 0.031),
    ("eq", 0.0, (0.0, 0.0, 0.0), "deterministic", 0.0),
    ("eq", 1.0, (1.0, 0.99, 1.0), "failed in a run", -0.01),
])
def test_check_gate(op, threshold, values, verdict, margin):
    check = spread.check_gate(gate(op=op, threshold=threshold),
                              spread.Spread("retrieval.recall_at_5", values))
    assert check.verdict == verdict
    assert check.margin == pytest.approx(margin)


def test_margin_in_spreads_and_unmeasured_gates():
    check = spread.check_gate(gate(threshold=0.95),
                              spread.Spread("retrieval.recall_at_5", (0.97, 0.98)))
    assert check.margin_in_spreads == pytest.approx(2.0)
    assert spread.check_gate(gate(), None).verdict == "not measured"
    checks = spread.check_gates([gate(), gate("cache.hit_rate")],
                                {"retrieval.p50_ms": spread.Spread("retrieval.p50_ms", (1.0,))})
    assert [c.gate.name for c in checks] == ["retrieval.recall_at_5"]  # cache did not run
    assert checks[0].verdict == "not measured"


def test_suggest_puts_the_threshold_beyond_the_worst_run():
    s = spread.Spread("m", (0.90, 0.92, 0.93))
    assert spread.suggest("ge", s) == pytest.approx(0.90 - 2 * 0.03)
    assert spread.suggest("le", s, noise_factor=1) == pytest.approx(0.96)
    assert spread.suggest("ge", spread.Spread("m", (0.5, 0.5)), resolution=0.01) == 0.49


def test_markdown_and_json_name_every_gate_and_metric(tmp_path):
    spreads = spread.collect([summary(**{"retrieval.recall_at_5": v, "retrieval.p50_ms": p})
                              for v, p in ((0.98, 0.4), (0.99, 0.5), (0.985, 0.45))])
    checks = spread.check_gates([gate(), gate("retrieval.p50_ms", "le", 0.5)], spreads)
    meta = spread.meta_for("ci", ["retrieval"], 3, "abc123", "python -m evals spread")
    paths = spread.write(tmp_path, "ci-retrieval", spreads, checks, meta)
    text = paths["markdown"].read_text()
    assert "| retrieval.recall_at_5 | >= | 0.9500 | 0.9800 | 0.9850 | 0.9900 |" in text
    assert "inside the noise" in text and "abc123" in text
    data = json.loads(paths["json"].read_text())
    assert [g["verdict"] for g in data["gates"]] == ["outside the noise", "inside the noise"]
    assert data["gates"][0]["values"] == [0.98, 0.99, 0.985]
    assert {m["metric"] for m in data["metrics"]} == set(spreads)


def test_cli_reads_summaries_made_already(tmp_path, capsys):
    files = []
    for i, value in enumerate((0.9, 0.91, 0.92)):
        path = tmp_path / f"{i}.json"
        path.write_text(json.dumps(summary(**{"quality.recall_at_5": value}).to_json()))
        files.append(str(path))
    gates = tmp_path / "gates.toml"
    gates.write_text('[[gate]]\nname = "quality.recall_at_5"\nop = "ge"\nvalue = 0.8\n'
                     'reason = "x"\n')
    out = tmp_path / "out"
    code = cli.main(["spread", "--from", *files, "--out", str(out), "--gates", str(gates)])
    assert code == 0
    data = json.loads((out / "ci-quality.json").read_text())
    assert data["gates"][0]["verdict"] == "outside the noise" and data["repeats"] == 3
    gates.write_text(gates.read_text().replace("0.8", "0.89"))
    assert cli.main(["spread", "--from", *files, "--out", str(out), "--gates", str(gates)]) == 1
    assert "inside the noise" in capsys.readouterr().out


def test_cli_refuses_a_run_without_notebooks_or_repeats(capsys):
    assert cli.main(["spread", "--profile", "ci"]) == 2
    assert cli.main(["spread", "--only", "quality", "--repeats", "1"]) == 2
    assert "--repeats" in capsys.readouterr().err
