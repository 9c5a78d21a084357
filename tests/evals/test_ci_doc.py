"""The CI job of docs/evaluate-your-data.md: its ``python -m evals`` commands, run in order on
a small dataset with its committed baseline (the example; the quality notebook replaced by a
tiny one that writes the same rows, so the job takes seconds)."""

import dataclasses
import re
import shlex
import xml.etree.ElementTree as ET

import pytest
import yaml

from evals import cli, profiles
from evals.paths import REPO_ROOT
from tests.evals_tiny import tiny_quality

pytestmark = pytest.mark.slow
DOC = REPO_ROOT / "docs" / "evaluate-your-data.md"


def ci_job() -> dict:
    blocks = re.findall(r"```yaml\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(blocks) == 1, "the doc gives one CI job"
    return yaml.safe_load(blocks[0])


def evals_commands(job: dict) -> list[list[str]]:
    """Every ``python -m evals ...`` line of the job's ``run`` steps, as argv after ``evals``."""
    steps = [s for j in job["jobs"].values() for s in j["steps"]]
    out = []
    for step in steps:
        for line in str(step.get("run", "")).splitlines():
            words = shlex.split(line)
            if words[1:3] == ["-m", "evals"]:
                out.append(words[3:])
    return out


def test_the_ci_job_is_complete():
    job = ci_job()
    steps = [s for j in job["jobs"].values() for s in j["steps"]]
    uses = " ".join(str(s.get("uses", "")) for s in steps)
    assert "actions/checkout" in uses and "actions/setup-python" in uses
    commands = evals_commands(job)
    assert commands[0][:3] == ["run", "--dataset", "data/mydata"]
    assert "--junit-xml" in commands[0] and "reports/mydata/baseline.json" in commands[0]


def test_the_ci_job_runs_on_a_small_dataset(tmp_path, monkeypatch, capsys):
    spec = tiny_quality(tmp_path)
    monkeypatch.setattr(profiles, "notebooks_for", lambda profile, only, notebooks: [spec])
    monkeypatch.setattr(cli, "REPORTS_DIR", tmp_path / "reports")
    monkeypatch.chdir(tmp_path)
    assert cli.main(["init-dataset", "data/mydata"]) == 0
    assert cli.main(["run", "--dataset", "data/mydata"]) == 0  # the first run: the baseline
    assert (tmp_path / "reports" / "mydata" / "baseline.json").is_file()
    capsys.readouterr()
    codes = [cli.main(argv) for argv in evals_commands(ci_job())]
    assert codes == [0] * len(codes), capsys.readouterr()
    root = ET.parse(tmp_path / "build" / "evals-junit.xml").getroot()
    assert {s.get("name") for s in root} == {"gates", "questions"}
    # the same job on a change that loses three questions fails and names them
    worse = dataclasses.replace(spec, params={"ci": {"misses": 3}})
    monkeypatch.setattr(profiles, "notebooks_for", lambda profile, only, notebooks: [worse])
    first = evals_commands(ci_job())[0]
    assert cli.main(first) == 1
    printed = capsys.readouterr().out
    assert "newly failing: coop-qa-001 coop-qa-002 coop-qa-003" in printed
    cases = {c.get("name") for s in ET.parse(tmp_path / "build" / "evals-junit.xml").getroot()
             if s.get("name") == "questions" for c in s}
    # each case named by its question's text, then its id
    assert {c.rsplit(" [", 1)[1].rstrip("]") for c in cases} == {
        "coop-qa-001", "coop-qa-002", "coop-qa-003"}
    assert all(not c.startswith("coop-qa-") for c in cases)
