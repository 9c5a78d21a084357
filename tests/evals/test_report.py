import json

import pytest

from evals import gates as g
from evals.report import summary as report
from evals.report.run_report import (
    Compared,
    Environment,
    RunInfo,
    RunReport,
    RunSummary,
    Setting,
    SummaryError,
)


def _write(folder, summary, results, notebooks, baseline=None, *, previous=None, gates=()):
    return report.write_report(folder, RunReport(summary, list(results), list(notebooks),
                                                 baseline, previous, gates))


def _results():
    gates = [g.Gate("quality.recall_at_5", "ge", 0.8, "r"), g.Gate("quality.leak_rate", "eq",
                                                                   0.0, "r"),
             g.Gate("cache.hit_rate", "ge", 0.3, "r")]
    metrics = {"quality.recall_at_5": 0.89, "quality.leak_rate": 0.0, "quality.n": 226}
    return metrics, g.evaluate(gates, metrics, ran=["quality"])


def test_summary_json_has_exactly_the_specified_shape(tmp_path):
    metrics, results = _results()
    summary = report.build_summary("ci", "2026-11-22T10:00:00+00:00", "abc123", results,
                                   metrics)
    nb = report.NotebookOutcome("quality", "notebooks/01.ipynb", str(tmp_path / "01.ipynb"),
                                12.3, True)
    paths = _write(tmp_path, summary, results, [nb])
    data = json.loads(paths["json"].read_text())
    assert list(data) == ["profile", "started_at", "git_commit", "run", "parameters",
                          "settings", "environment", "gates", "metrics"]
    assert data["profile"] == "ci"
    assert data["git_commit"] == "abc123"
    assert data["metrics"] == metrics
    for row in data["gates"]:
        assert list(row) == ["name", "value", "threshold", "op", "passed"]
    by = {row["name"]: row for row in data["gates"]}
    assert by["quality.recall_at_5"]["passed"] is True
    assert by["cache.hit_rate"] == {"name": "cache.hit_rate", "value": None,
                                    "threshold": 0.3, "op": "ge", "passed": None}


def test_deltas_show_a_drop_of_one_recall_point():
    from evals.units import fmt_delta

    baseline = {"quality.recall_at_5": 0.90, "quality.mrr": 0.8}
    rows = report.deltas({"quality.recall_at_5": 0.89, "quality.new": 1.0}, baseline)
    by = {r["name"]: r for r in rows}
    assert fmt_delta("quality.recall_at_5", by["quality.recall_at_5"]["delta"]) == "-0.0100"
    assert by["quality.new"]["baseline"] is None
    assert fmt_delta("quality.new", by["quality.new"]["delta"]) == "new"
    assert fmt_delta("quality.mrr", 0.0) == "0"
    assert fmt_delta("quality.mrr", 0.02) == "+0.0200"


def test_markdown_has_the_gate_table_deltas_and_plots(tmp_path):
    metrics, results = _results()
    summary = report.build_summary("ci", "t", "c", results, metrics)
    plot = tmp_path / "quality" / "sweep.png"
    nb = report.NotebookOutcome("quality", "nb", str(tmp_path / "01.ipynb"), 1.0, True,
                                artifacts=[str(plot)], notes={"llm_judge": "skipped: x"})
    baseline = Compared("base.json", {"quality.recall_at_5": 0.90})
    paths = _write(tmp_path, summary, results, [nb], baseline)
    text = paths["markdown"].read_text()
    assert "(PASSED)" in text
    # columns with nothing in them (dev, prev, note) are left out
    assert "| gate | value | op | threshold | baseline | Δ baseline | status |" in text
    row = "| `quality.recall_at_5` | 0.8900 | >= | 0.8000 | 0.9000 | -0.0100 | passed |"
    assert row in text
    assert "![sweep](quality/sweep.png)" in text
    assert "*sweep (notebook quality).*" in text  # every plot has a caption
    assert "skipped: x" in text
    # the gates of a notebook that did not run are one line, not one row each
    assert "1 gates of notebooks that did not run (cache): skipped." in text
    gates_section = text.split("## Gates")[1].split("## Notebooks")[0]
    assert "| `cache.hit_rate`" not in gates_section


def test_markdown_says_failed(tmp_path):
    results = g.evaluate([g.Gate("quality.leak_rate", "eq", 0.0, "must be zero")],
                         {"quality.leak_rate": 0.1}, ran=["quality"])
    summary = report.build_summary("ci", "t", "c", results, {"quality.leak_rate": 0.1})
    paths = _write(tmp_path, summary, results, [])
    text = paths["markdown"].read_text()
    assert "(FAILED)" in text and "**FAILED**" in text and "must be zero" in text
    # the first screen is the verdict, and the failed gate explains itself there
    verdict = text.split("## Verdict")[1].split("\n## ")[0]
    assert text.index("## Verdict") < text.index("## Gates")
    assert "- `quality.leak_rate` = 0.1, needs == 0" in verdict
    assert "measures: share of answers that leak the system prompt" in verdict
    assert "why this threshold: must be zero" in verdict
    assert "threshold from: evals/gates.toml" in verdict
    assert "reproduce alone: `python -m evals run --profile ci --only quality`" in verdict


def test_load_baseline(tmp_path):
    assert report.load_baseline(None) is None
    assert report.load_baseline(tmp_path / "absent.json") is None
    path = tmp_path / "s.json"
    path.write_text(json.dumps(report.build_summary("ci", "t", None, [], {"a": 1}).to_json()))
    assert report.load_baseline(path) == Compared(str(path), {"a": 1})


def test_the_header_names_the_change_against_the_previous_run_and_targets_missed(tmp_path):
    gate = g.Gate("quality.wrong_no_context_rate", "le", 0.12, "r", target=0.05)
    results = g.evaluate([gate], {"quality.wrong_no_context_rate": 0.086}, ran=["quality"])
    params = {"quality": {"top_k": 5, "settings": {}}}
    fields = {"quality": {"context_token_budget": Setting(1200, "default")}}
    previous = report.build_summary("ci", "t0", "c", results, {"quality.cost_usd": 0.0002},
                                    run=RunInfo("r1"), parameters=params, settings=fields)
    fields_now = {"quality": {"context_token_budget": Setting(600, "param")}}
    params_now = {"quality": {"top_k": 5, "settings": {"context_token_budget": 600}}}
    summary = report.build_summary("ci", "t1", "c", results, {"quality.cost_usd": 0.0001},
                                   run=RunInfo("r2", previous="r1"), parameters=params_now,
                                   settings=fields_now)
    paths = _write(tmp_path, summary, results, [], previous=previous, gates=[gate])
    lines = paths["markdown"].read_text().splitlines()
    assert ("- changed against the previous run `r1`: quality: "
            "settings.context_token_budget 1200 -> 600") in lines
    text = "\n".join(lines)
    assert "context_token_budget=600 (param)" in text
    assert "- `quality.wrong_no_context_rate`: 8.6 %, target <= 5.0 %" in text
    assert "| `quality.cost_usd` | $0.000100 | $0.000200 | -$0.000100 |" in text


def test_the_markdown_shows_paths_inside_the_checkout_relative_to_it(tmp_path):
    from evals.paths import REPO_ROOT

    results = g.evaluate([g.Gate("quality.mrr", "ge", 0.5, "r")], {"quality.mrr": 0.9},
                         ran=["quality"])
    params = {"quality": {"dataset": str(REPO_ROOT / "golden"), "top_k": 5}}
    fields = {"quality": {"state_dir": Setting(str(REPO_ROOT / ".rag_state"), "param")}}
    summary = report.build_summary("ci", "t", "c", results, {"quality.mrr": 0.9},
                                   parameters=params, settings=fields,
                                   environment=Environment(str(REPO_ROOT / ".rag_state")))
    text = _write(tmp_path, summary, results, [])["markdown"].read_text()
    assert str(REPO_ROOT) not in text
    assert "dataset='golden'" in text and "state_dir='.rag_state' (param)" in text


def test_the_page_opens_on_the_verdict_and_folds_the_long_tables(tmp_path):
    metrics, results = _results()
    summary = report.build_summary("ci", "t", "c", results, metrics)
    nb = report.NotebookOutcome("quality", "nb", str(tmp_path / "01.ipynb"), 1.0, True,
                                tables={"per scenario": "| a |\n|---|\n| 1 |\n| 2 |"})
    text = _write(tmp_path, summary, results, [nb])["markdown"] \
        .read_text()
    assert text.index("## Verdict") < text.index("<details>")
    folded = [block.split("</details>")[0] for block in text.split("<details>")[1:]]
    titles = [block.strip().splitlines()[0] for block in folded]
    shown = [r for r in results if not r.note.endswith("not run")]
    assert titles == [
        f"<summary>{len(shown)} gates: "
        f"{sum(r.status == 'passed' for r in shown)} passed, "
        f"{sum(r.status == 'failed' for r in shown)} failed, "
        f"{sum(r.status == 'skipped' for r in shown)} skipped</summary>",
        "<summary>2 rows</summary>",
        f"<summary>{len(metrics)} metrics</summary>"]
    assert "| `quality.recall_at_5` | 0.8900 |" in folded[0]  # the gate table
    assert all(f"| `{name}` |" in folded[2] for name in metrics)  # every metric, folded
    outside = text.split("<details>")[0] + "".join(b.split("</details>")[1] for b in
                                                   text.split("<details>")[1:])
    assert "| `quality.recall_at_5` |" not in outside


def test_a_summary_round_trips_through_its_json(tmp_path):
    metrics, results = _results()
    summary = report.build_summary(
        "ci", "t", "c", results, metrics, run=RunInfo("r1", previous="r0", rows_from=["r0"]),
        parameters={"quality": {"top_k": 5}},
        settings={"quality": {"top_k": Setting(5, "param")}},
        environment=Environment(".rag_state", ["careful"]))
    path = summary.write(tmp_path / "summary.json")
    assert RunSummary.read(path) == summary
    assert json.loads(path.read_text())["run"]["rows_from"] == ["r0"]


@pytest.mark.parametrize(("drop", "named"), [
    (("metrics",), "'metrics'"), (("run", "id"), "summary.json.run: the field 'id'"),
    (("gates", 0, "passed"), "summary.json.gates[0]: the field 'passed'"),
    (("settings", "quality", "top_k", "source"),
     "summary.json.settings.quality.top_k: the field 'source'")])
def test_a_missing_field_is_an_error_that_names_it_not_an_empty_value(tmp_path, drop, named):
    metrics, results = _results()
    data = report.build_summary("ci", "t", "c", results, metrics, run=RunInfo("r1"),
                                settings={"quality": {"top_k": Setting(5, "param")}}).to_json()
    holder = data
    for key in drop[:-1]:
        holder = holder[key]
    del holder[drop[-1]]
    path = tmp_path / "summary.json"
    path.write_text(json.dumps(data))
    with pytest.raises(SummaryError, match="missing") as caught:
        RunSummary.read(path)
    assert named in str(caught.value).replace(str(tmp_path) + "/", "")


def test_an_old_summary_without_the_later_run_fields_still_reads():
    from evals.paths import REPO_ROOT

    old = RunSummary.read(REPO_ROOT / "reports" / "baseline" / "ci" / "summary.json")
    assert old.run.dataset is None and old.run.command == "" and old.run.gate_sources == {}
    assert old.metrics["quality.n"] > 0


def test_a_gate_over_questions_shows_its_count_and_wilson_interval(tmp_path):
    gate = g.Gate("quality.no_context.no_context_accuracy", "ge", 0.9, "r")
    metrics = {"quality.no_context.no_context_accuracy": 5 / 6, "quality.no_context.n": 6}
    results = g.evaluate([gate], metrics, ran=["quality"])
    summary = report.build_summary("ci", "t", "c", results, metrics)
    this = RunReport(summary, results, [], counts={gate.name: (5, 6)})
    text = report.write_report(tmp_path, this)["markdown"].read_text()
    assert "| gate | value | count (95 % interval) |" in text
    assert "| 83.3 % | 5 of 6 (83 %, 95 % interval 44-97 %) |" in text
    verdict = text.split("## Verdict")[1].split("\n## ")[0]
    assert "= 0.8333, needs >= 0.9 (5 of 6 (83 %, 95 % interval 44-97 %))" in verdict
    assert "ran on: the golden set (golden/), 5 of 6 questions" in verdict


def test_a_failed_gate_on_a_dataset_quotes_that_dataset_not_the_golden_set():
    from evals.report.explain import explain_lines
    from evals.report.run_report import DatasetInfo

    gate = g.GateResult("quality.no_context.no_context_accuracy", 0.833, 0.87, "ge", "failed",
                        "trips: allows one of the 12 no-context questions")
    summary = report.build_summary(
        "ci", "t", "c", [gate], {"quality.no_context.n": 12},
        run=RunInfo("r1", dataset=DatasetInfo("trips", "/data/trips"),
                    gate_sources={gate.name: "/data/trips/gates.toml"}))
    lines = explain_lines(gate, summary)
    assert "  - ran on: dataset `trips` (/data/trips), 12 questions" in lines
    assert "  - threshold from: /data/trips/gates.toml (the dataset's gates.toml)" in lines
    assert lines[-1].endswith("--profile ci --dataset /data/trips --only quality`")
