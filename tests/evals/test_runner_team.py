"""The runner tests the team's settings: ``--env-file`` and the environment reach the notebook
over the profile's values, ``--param`` over them is printed and reported (a real kernel)."""

from __future__ import annotations

import io
import json

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from evals import cli, runner
from evals.profiles import NotebookSpec

pytestmark = pytest.mark.slow

CELL = """from evals import knobs
from evals.quality import evaluate as quality
from evals.report import record
s = knobs.resolve("quality", settings, {"top_k": top_k, "context_budget": context_budget},
                  harness=quality.EVAL_HARNESS, output_dir=output_dir)
record.record("tiny", {"top_k": s.retrieval.top_k,
                       "budget": s.tokens.context_token_budget}, output_dir)
"""


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    import os

    for name in list(os.environ):
        if name.startswith("RAG_") and name != "RAG_STATE_DIR":
            monkeypatch.delenv(name)
    nb = new_notebook(cells=[
        new_code_cell("top_k = 5\ncontext_budget = 1200\nsettings = {}\noutput_dir = ''",
                      metadata={"tags": ["parameters"]}),
        new_code_cell(CELL),
    ], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                "language": "python"}})
    path = tmp_path / "tiny.ipynb"
    nbformat.write(nb, path)
    gates = tmp_path / "gates.toml"
    gates.write_text("")
    spec = NotebookSpec("tiny", str(path), {"ci": {"top_k": 5, "context_budget": 1200}},
                        settings_params={"top_k": "top_k", "context_budget":
                                         "context_token_budget"})
    env_file = tmp_path / "team.env"
    env_file.write_text("RAG_TOP_K=2\nRAG_CONTEXT_TOKEN_BUDGET=900\n")
    monkeypatch.setenv("RAG_CONTEXT_TOKEN_BUDGET", "150")
    return spec, gates, tmp_path / "reports", env_file


def _run(tiny, **kw):
    spec, gates, reports, env_file = tiny
    stream = io.StringIO()
    options = runner.RunOptions(profile="ci", notebooks=[spec], gates_file=gates,
                                reports_dir=reports, stream=stream, baseline=None,
                                env_file=env_file, **kw)
    return runner.run(options), stream.getvalue(), reports / "ci"


def test_the_env_file_and_the_environment_beat_the_profile_and_are_reported(tiny):
    result, log, out = _run(tiny)
    assert result.exit_code == 0, log
    summary = json.loads((out / "summary.json").read_text())
    assert summary["metrics"] == {"tiny.top_k": 2, "tiny.budget": 150}
    fields = summary["settings"]["tiny"]
    assert fields["top_k"] == {"value": 2, "source": "env-file"}
    assert fields["context_token_budget"] == {"value": 150, "source": "env"}
    assert summary["parameters"]["tiny"]["top_k"] is None  # the profile's 5 not passed
    text = (out / "summary.md").read_text()
    assert "top_k=2 (env-file)" in text and "context_token_budget=150 (env)" in text
    assert "settings file (--env-file)" in text
    from evals.gates import GateResult
    from evals.report.explain import reproduce_command

    again = reproduce_command(GateResult("tiny.top_k", 2.0, 1.0, "ge", "failed"),
                              result.summary)
    assert f"--env-file {tiny[3]}" in again  # the reproduction reads the same settings file


def test_a_param_over_a_team_setting_is_printed_and_reported(tiny):
    result, log, out = _run(tiny, overrides={"top_k": 3})
    assert result.exit_code == 0, log
    said = "--param sets top_k=3 over the team's RAG_TOP_K=2 (env-file)"
    assert said in log
    summary = json.loads((out / "summary.json").read_text())
    assert summary["metrics"]["tiny.top_k"] == 3
    assert summary["settings"]["tiny"]["top_k"]["source"] == "param"
    assert summary["run"]["overridden"] == [said]
    assert f"**overridden**: {said}" in (out / "summary.md").read_text()


def test_a_missing_env_file_is_a_usage_error(tmp_path, capsys):
    code = cli.main(["run", "--only", "quality", "--env-file", str(tmp_path / "none.env"),
                     "--reports-dir", str(tmp_path)])
    assert code == 2
    assert "SETTINGS_BAD_ENV_FILE" in capsys.readouterr().err
