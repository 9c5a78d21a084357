"""The runner end to end on a tiny notebook that records a number (a real kernel, papermill)."""

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
name = "tiny.score"
op = "ge"
value = 0.5
reason = "tiny notebooks score 0.9 by default; 0.5 leaves room"

[[gate]]
name = "other.rate"
op = "le"
value = 0.0
reason = "the other notebook is not in this profile: the gate is skipped"
"""


@pytest.fixture
def tiny(tmp_path):
    nb = new_notebook(cells=[
        new_code_cell("score = 0.9\nfail = False\noutput_dir = ''",
                      metadata={"tags": ["parameters"]}),
        new_code_cell("import sys\nprint('working', file=sys.stderr)\n"
                      "assert not fail, 'asked to fail'\n"
                      "from evals.report import record\n"
                      "record.record('tiny', {'score': score}, output_dir)"),
    ], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                "language": "python"}})
    path = tmp_path / "tiny.ipynb"
    nbformat.write(nb, path)
    gates = tmp_path / "gates.toml"
    gates.write_text(GATES)
    spec = NotebookSpec("tiny", str(path), {"ci": {"score": 0.9}})
    return spec, gates, tmp_path / "reports"


def _run(tiny, **kw):
    spec, gates, reports = tiny
    stream = io.StringIO()
    options = runner.RunOptions(profile="ci", notebooks=[spec], gates_file=gates,
                                reports_dir=reports, stream=stream, **kw)
    return runner.run(options), stream.getvalue(), reports / "ci"


def test_a_passing_run_writes_the_report(tiny):
    result, log, out = _run(tiny, baseline=None)
    assert result.exit_code == 0, log
    assert "working" in log  # the notebook's stderr is streamed
    summary = json.loads((out / "summary.json").read_text())
    assert summary["metrics"] == {"tiny.score": 0.9}
    status = {row["name"]: row["passed"] for row in summary["gates"]}
    assert status == {"tiny.score": True, "other.rate": None}
    run_dir = out / "runs" / summary["run"]["id"]
    assert (run_dir / "tiny.ipynb").is_file()  # the run is kept in its own folder
    assert json.loads((run_dir / "summary.json").read_text()) == summary
    assert summary["parameters"] == {"tiny": {"score": 0.9}}
    assert (out / "summary.md").read_text().startswith("# Harness report: profile `ci`")


def test_a_second_run_compares_with_the_first(tiny, capsys):
    first, _, out = _run(tiny, baseline=None)
    second, _, _ = _run(tiny, overrides={"score": 0.8}, baseline=None)
    assert second.summary.run.previous == first.summary.run.id
    text = (out / "summary.md").read_text().splitlines()
    assert (f"- changed against the previous run `{first.summary.run.id}`: "
            "tiny: score 0.9 -> 0.8") in text
    assert "| `tiny.score` | 0.8000 | 0.9000 | -0.1000 |" in "\n".join(text)
    code = cli.main(["compare", first.summary.run.id, second.summary.run.id,
                     "--reports-dir", str(out.parent), "--all"])
    printed = capsys.readouterr().out
    assert code == 0
    assert "- tiny: score 0.9 -> 0.8" in printed
    assert "| `tiny.score` | 0.9000 | 0.8000 | -0.1000 |" in printed


def test_a_parameter_override_that_breaks_a_gate_exits_1(tiny):
    result, _, out = _run(tiny, overrides={"score": 0.1}, baseline=None)
    assert result.exit_code == 1
    failed = [g for g in result.gates if g.status == "failed"]
    assert [(g.name, g.value) for g in failed] == [("tiny.score", 0.1)]


def test_a_failing_notebook_fails_its_gates_and_old_results_do_not_count(tiny):
    assert _run(tiny, baseline=None)[0].exit_code == 0
    result, _, _ = _run(tiny, overrides={"fail": True}, baseline=None)
    assert result.exit_code == 1
    assert not result.notebooks[0].ok
    assert "asked to fail" in result.notebooks[0].error
    assert result.gates[0].status == "failed"


def test_deltas_against_a_baseline(tiny):
    _, _, out = _run(tiny, baseline=None)
    base = out.parent / "base.json"
    summary = json.loads((out / "summary.json").read_text())
    base.write_text(json.dumps({**summary, "metrics": {"tiny.score": 0.91}}))
    result, _, out = _run(tiny, baseline=str(base))
    assert "| `tiny.score` | 0.9000 | 0.9000 | 0 | 0.9100 | -0.0100 |" in (
        out / "summary.md").read_text()
    # a baseline that is no summary.json is refused before a notebook runs, naming the field
    base.write_text(json.dumps({"metrics": {"tiny.score": 0.91}}))
    with pytest.raises(runner.UsageError, match="the field 'profile' is missing"):
        _run(tiny, baseline=str(base))
    # so is a previous run whose summary lost a field: it does not read as empty
    last = out / "runs" / result.summary.run.id / "summary.json"
    damaged = json.loads(last.read_text())
    del damaged["run"]["id"]
    last.write_text(json.dumps(damaged))
    runs = sorted((out / "runs").iterdir())
    with pytest.raises(runner.UsageError, match=r"run: the field 'id' is missing"):
        _run(tiny, baseline=None)
    assert sorted((out / "runs").iterdir()) == runs  # and leaves no empty run folder


def test_cli_prints_failing_rows(tiny, capsys, monkeypatch):
    spec, gates, reports = tiny
    real = runner.RunOptions

    def options(**kw):
        kw["notebooks"] = [spec]
        return real(**kw)

    monkeypatch.setattr(runner, "RunOptions", options)
    code = cli.main(["run", "--profile", "ci", "--param", "score=0.2", "--no-baseline",
                     "--gates", str(gates), "--reports-dir", str(reports)])
    out = capsys.readouterr().out
    assert code == 1
    assert "1 gate(s) FAILED" in out
    failing = out.split("1 gate(s) FAILED:")[1]
    assert "tiny.score  0.2    >=  0.5        FAILED" in failing
    assert "tiny notebooks score 0.9" in failing


def test_refresh_refs_keeps_only_checked_outputs(tmp_path):
    from evals import nbrefs

    nb = new_notebook(cells=[
        new_code_cell("n = 2", metadata={"tags": ["parameters"]}),
        new_code_cell("print('noise', n)"),
        new_code_cell("print('reference', n * 21)", metadata={"tags": ["nbval-check-output"]}),
    ], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                "language": "python"}})
    path = tmp_path / "refs.ipynb"
    nbformat.write(nb, path)
    nbrefs.refresh(path)
    cells = nbformat.read(path, as_version=4).cells
    assert cells[1].outputs == [] and cells[1].execution_count is None
    assert cells[2].outputs[0]["text"] == "reference 42\n"
    assert "papermill" not in cells[2].metadata
    assert cells[1].metadata == {}


def test_recorded_folders_are_shown_from_the_checkout(tmp_path):
    """A summary committed as a baseline names no folder of the machine that ran it."""
    from evals import knobs
    from evals.paths import REPO_ROOT
    from rag_core.config import Settings

    settings = Settings(state_dir=REPO_ROOT / ".rag_state", model_cache_dir=tmp_path / "models")
    knobs.record_settings("tiny", settings, {}, {}, tmp_path, [])
    fields = runner._settings_of(tmp_path)["fields"]
    assert fields["state_dir"]["value"] == ".rag_state"
    assert fields["model_cache_dir"]["value"] == str(tmp_path / "models")  # outside: as it is
