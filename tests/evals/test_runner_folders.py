"""Runs that do not step on each other: report folders per profile, dataset or name; an
``--only`` run merged into its folder; ``compare`` of the latest runs of any folder."""

import io
import json

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from evals import cli, runner
from evals.profiles import NotebookSpec

pytestmark = pytest.mark.slow

GATES = """
[[gate]]
name = "first.score"
op = "ge"
value = 0.5
reason = "the first notebook scores 0.9 by default"

[[gate]]
name = "second.score"
op = "ge"
value = 0.5
reason = "the second notebook scores 0.9 by default"
"""


MISSING = """
[[gate]]
name = "first.probes"
op = "ge"
value = 1.0
reason = "a figure the tiny notebook never records"
"""


def _notebook(path, name):
    nb = new_notebook(cells=[
        new_code_cell("score = 0.9\ndataset = ''\noutput_dir = ''",
                      metadata={"tags": ["parameters"]}),
        new_code_cell("from evals.report import record\n"
                      f"record.record({name!r}, {{'score': score, 'on_dataset': bool(dataset)}},"
                      " output_dir)"),
    ], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                "language": "python"}})
    nbformat.write(nb, path)


@pytest.fixture
def two(tmp_path):
    specs = []
    for name in ("first", "second"):
        _notebook(tmp_path / f"{name}.ipynb", name)
        specs.append(NotebookSpec(name, str(tmp_path / f"{name}.ipynb"), {"ci": {"score": 0.9}}))
    gates = tmp_path / "gates.toml"
    gates.write_text(GATES)
    return specs, gates, tmp_path / "reports"


def _run(two, profile="ci", **kw):
    specs, gates, reports = two
    options = runner.RunOptions(profile=profile, notebooks=specs, gates_file=gates,
                                reports_dir=reports, stream=io.StringIO(), baseline=None, **kw)
    return runner.run(options)


def _summary(reports, folder):
    return json.loads((reports / folder / "summary.json").read_text())


def test_an_only_run_of_ci_merges_its_rows_into_the_ci_summary(two):
    _, _, reports = two
    _run(two)
    result = _run(two, only=["second"], overrides={"score": 0.7})
    summary = _summary(reports, "ci")
    assert summary["metrics"]["first.score"] == 0.9  # kept from the full run
    assert summary["metrics"]["second.score"] == 0.7  # replaced by the --only run
    assert {g["name"]: g["passed"] for g in summary["gates"]} == {
        "first.score": True, "second.score": True}
    assert summary["run"]["rows_from"]  # says where the kept rows came from
    # the run's own folder keeps only what it ran
    own = json.loads((reports / "ci" / "runs" / result.summary.run.id
                      / "summary.json").read_text())
    assert "first.score" not in own["metrics"]


def test_a_dev_run_writes_its_own_folder_and_leaves_ci_alone(two):
    _, _, reports = two
    _run(two)
    before = (reports / "ci" / "summary.json").read_text()
    _run(two, profile="dev", overrides={"score": 0.1})
    assert (reports / "ci" / "summary.json").read_text() == before
    assert _summary(reports, "dev")["metrics"]["first.score"] == 0.1
    named = _run(two, profile="dev", name="try-budget")
    assert named.paths["json"] == reports / "try-budget" / "summary.json"
    with pytest.raises(runner.UsageError, match="only by the ci profile"):
        _run(two, profile="dev", name="ci")


def test_a_dataset_run_reports_under_the_dataset_name(two, tmp_path):
    from evals.datasets.example import write_example

    _, gates, reports = two
    gates.write_text(gates.read_text() + MISSING)
    data = write_example(tmp_path / "bike-coop")
    result = _run(two, dataset=str(data))
    assert result.paths["json"] == reports / "bike-coop" / "summary.json"
    summary = _summary(reports, "bike-coop")
    assert summary["metrics"]["first.on_dataset"] is True  # the notebooks got the dataset
    assert summary["run"]["dataset"]["name"] == "bike-coop"
    assert not (reports / "ci").exists()
    # the golden thresholds do not judge a dataset: only the safety counts, its own gates.toml
    # and its baseline do; the golden run keeps them
    status = {g.name: (g.status, g.note) for g in result.gates}
    assert "first.probes" not in status and "first.score" not in status
    assert status["quality.recall_at_5"][0] == "skipped"  # the dataset's own; quality not run
    assert result.exit_code == 0
    golden_run = _run(two)
    assert {g.name: g.status for g in golden_run.gates}["first.probes"] == "failed"
    # the gates of the dataset's gates.toml are applied, each with its source
    sources = summary["run"]["gate_sources"]
    assert set(sources) == {"quality.recall_at_5"}
    assert all(path.endswith("bike-coop/gates.toml") for path in sources.values())


def test_compare_defaults_to_the_two_latest_runs_and_shows_what_moved(two, capsys):
    _, _, reports = two
    _run(two, only=["second"])
    _run(two, profile="dev", only=["second"], overrides={"score": 0.6})
    code = cli.main(["compare", "--reports-dir", str(reports)])
    printed = capsys.readouterr().out
    assert code == 0
    assert "ci/" in printed and "dev/" in printed  # the two latest runs, of any folder
    metrics = printed.split("## Metrics")[1]
    assert "| `second.score` | 0.9000 | 0.6000 | -0.3000 |" in metrics
    assert "`second.on_dataset`" not in metrics  # unchanged rows are left out by default
    cli.main(["compare", "previous", "latest", "--all", "--reports-dir", str(reports)])
    assert "`second.on_dataset`" in capsys.readouterr().out


def test_an_only_run_after_a_failed_one_inherits_no_failure_and_exits_on_its_own(two):
    _, _, reports = two
    harmful = _run(two, overrides={"score": 0.1})
    assert harmful.exit_code == 1
    neutral = _run(two, only=["second"])
    assert neutral.exit_code == 0
    summary = _summary(reports, "ci")
    rows = {g["name"]: g for g in summary["gates"]}
    assert rows["second.score"]["passed"] is True
    assert rows["first.score"]["passed"] is None  # shown, not inherited as a failure
    kept = {g.name: g for g in neutral.gates}["first.score"]
    assert kept.note == f"not run here: failed in run {harmful.summary.run.id}"
    assert "FAILED" not in (reports / "ci" / "summary.md").read_text().splitlines()[0]


def test_the_baseline_gates_belong_to_the_quality_notebook():
    from evals.report import merge

    assert merge._prefix("baseline.newly_failing_questions") == "quality"
    assert merge._prefix("cache.hit_rate") == "cache"
