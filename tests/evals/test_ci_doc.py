"""The CI workflow of docs/evaluate-your-data.md: its pull-request job's ``python -m evals``
commands, run in order on a small dataset with its committed baseline (the example; the quality
notebook replaced by a tiny one that writes the same rows, so the job takes seconds); its
notes check, run in a scratch repository; the caches and the CPU torch it names, against the
code."""

import dataclasses
import os
import re
import shlex
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from evals import cli, profiles
from evals.paths import REPO_ROOT
from rag_core.config.settings import user_model_cache
from tests.evals_tiny import tiny_quality

pytestmark = pytest.mark.slow
DOC = REPO_ROOT / "docs" / "evaluate-your-data.md"
PR_JOB, SCHEDULED_JOB = "evals", "load-and-chaos"


def ci_job() -> dict:
    blocks = re.findall(r"```yaml\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(blocks) == 1, "the doc gives one CI workflow"
    return yaml.safe_load(blocks[0])


def triggers(workflow: dict) -> dict:
    return workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true


def evals_commands(job: dict, name: str = PR_JOB, env: dict[str, str] | None = None
                   ) -> list[list[str]]:
    """Every ``python -m evals ...`` line of job ``name``'s ``run`` steps, as argv after
    ``evals``, with ``$NAME`` replaced from ``env`` (what earlier steps put in $GITHUB_ENV)."""
    out = []
    for step in job["jobs"][name]["steps"]:
        for line in str(step.get("run", "")).splitlines():
            line = re.sub(r"\$(\w+)", lambda m: (env or {}).get(m.group(1), ""), line)
            words = shlex.split(line)
            if words[1:3] == ["-m", "evals"]:
                out.append(words[3:])
    return out


def step(job: dict, name: str, starts: str) -> dict:
    found = [s for s in job["jobs"][name]["steps"] if str(s.get("name", "")).startswith(starts)]
    assert len(found) == 1, f"one step of {name} named {starts!r}"
    return found[0]


def test_the_ci_job_is_complete():
    job = ci_job()
    steps = [s for j in job["jobs"].values() for s in j["steps"]]
    uses = " ".join(str(s.get("uses", "")) for s in steps)
    assert "actions/checkout" in uses and "actions/setup-python" in uses
    commands = evals_commands(job)
    assert commands[0][:3] == ["run", "--dataset", "data/mydata"]
    assert "--junit-xml" in commands[0] and "reports/mydata/baseline.json" in commands[0]


def test_the_pull_request_job_judges_settings_and_load_and_chaos_run_on_a_schedule():
    job = ci_job()
    on = triggers(job)
    assert "pull_request" in on and on["schedule"][0]["cron"]
    assert job["jobs"][PR_JOB]["if"] == "github.event_name == 'pull_request'"
    assert job["jobs"][SCHEDULED_JOB]["if"] == "github.event_name != 'pull_request'"
    quiet = evals_commands(job)[0]
    assert [quiet[i + 1] for i, w in enumerate(quiet) if w == "--only"] == ["quality"]
    noted = evals_commands(job, env={"EVALS_RETRIEVAL": "--only retrieval"})[0]
    assert [noted[i + 1] for i, w in enumerate(noted) if w == "--only"] == ["quality",
                                                                           "retrieval"]
    every = [w for c in evals_commands(job) for w in c]
    assert "load" not in every and "chaos" not in every
    nightly = evals_commands(job, SCHEDULED_JOB)[0]
    assert [nightly[i + 1] for i, w in enumerate(nightly) if w == "--only"] == ["load", "chaos"]


def test_the_jobs_cache_the_venv_and_the_exported_model_and_install_cpu_torch(
        tmp_path, monkeypatch):
    job = ci_job()
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    (tmp_path / ".cache").mkdir()
    model_cache = user_model_cache()  # where the service exports the model by default
    assert model_cache is not None
    for name in (PR_JOB, SCHEDULED_JOB):
        caches = {s["with"]["path"]: s["with"]["key"] for s in job["jobs"][name]["steps"]
                  if str(s.get("uses", "")).startswith("actions/cache@")}
        assert set(caches) == {".venv", "~/.cache/rag_core/models"}
        assert Path(os.path.expanduser("~/.cache/rag_core/models")) == model_cache
        assert "hashFiles('pyproject.toml')" in caches[".venv"]
        assert "env.RAG_EMBEDDING_MODEL" in caches["~/.cache/rag_core/models"]
        setup = step(job, name, "Set up the harness")["run"]
        cpu = "--index-url https://download.pytorch.org/whl/cpu torch=="
        assert cpu in setup and setup.index(cpu) < setup.index("make setup")
        pinned = re.search(r"pip install --quiet (torch==[\d.]+)",
                           (REPO_ROOT / "Makefile").read_text())
        assert pinned and f"{pinned.group(1)}\n" in setup + "\n"  # the version make setup pins
    assert job["env"]["RAG_EMBEDDING_MODEL"] == "sentence-transformers/all-MiniLM-L6-v2"


def _git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True,
                          env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x",
                               "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@x"})
    return done.stdout


def test_the_notes_check_adds_retrieval_only_when_the_notes_changed(tmp_path):
    script = step(ci_job(), PR_JOB, "Judge retrieval too")["run"]
    origin, clone = tmp_path / "origin.git", tmp_path / "clone"
    _git(tmp_path, "init", "--quiet", "--bare", "-b", "main", str(origin))
    _git(tmp_path, "clone", "--quiet", str(origin), str(clone))
    (clone / "data" / "mydata" / "notes" / "rosa").mkdir(parents=True)
    (clone / "data" / "mydata" / "notes" / "rosa" / "a.md").write_text("# A\n\nOne.\n")
    (clone / "data" / "mydata" / "qa.jsonl").write_text("{}\n")
    _git(clone, "add", "data")
    _git(clone, "commit", "--quiet", "-m", "base")
    _git(clone, "push", "--quiet", "origin", "HEAD:main")

    def check(path: str) -> str:
        (clone / path).write_text((clone / path).read_text() + "more\n")
        _git(clone, "commit", "--quiet", "-am", f"change {path}")
        env_file = tmp_path / "github_env"
        env_file.write_text("")
        subprocess.run(["bash", "-e", "-c", script], cwd=clone, check=True,
                       env={**os.environ, "GITHUB_BASE_REF": "main",
                            "GITHUB_ENV": str(env_file)})
        _git(clone, "reset", "--quiet", "--hard", "origin/main")
        return env_file.read_text()

    assert check("data/mydata/qa.jsonl") == "EVALS_RETRIEVAL=\n"
    assert check("data/mydata/notes/rosa/a.md") == "EVALS_RETRIEVAL=--only retrieval\n"


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
