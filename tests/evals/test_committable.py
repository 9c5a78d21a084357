"""The files docs/evaluate-your-data.md says to commit can be committed with a plain
``git add`` (the repository's .gitignore leaves them alone), and a baseline holds no absolute
path of the machine that wrote it."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from evals.judge import baseline
from evals.judge.questions import Question
from evals.paths import REPO_ROOT

COMMITTED = ["data/mydata/qa.jsonl", "data/mydata/notes/rosa/glazes.md",
             "data/mydata/semantic_pairs.jsonl", "data/mydata/gates.toml",
             "data/mydata/settings.env", "reports/mydata/baseline.json",
             "reports/mydata/calibrated.env", "reports/baseline/ci/summary.json"]
LOCAL = ["reports/mydata/summary.md", "reports/mydata/runs/20261127T000000Z/summary.json",
         "reports/ci/summary.json", "data/beir/scifact/corpus.jsonl", "build/evals-junit.xml"]


def _ignored(path: str) -> bool:
    done = subprocess.run(["git", "check-ignore", "-q", "--no-index", path], cwd=REPO_ROOT,
                          check=False)
    assert done.returncode in (0, 1), done
    return done.returncode == 0


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
@pytest.mark.parametrize("path", COMMITTED)
def test_a_documented_dataset_or_baseline_file_is_not_ignored(path):
    assert not _ignored(path)


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
@pytest.mark.parametrize("path", LOCAL)
def test_runs_and_downloads_stay_out_of_git(path):
    assert _ignored(path)


def test_the_guide_names_the_committable_locations():
    guide = (REPO_ROOT / "docs" / "evaluate-your-data.md").read_text()
    for path in ("data/mydata/", "reports/mydata/baseline.json"):
        assert path in guide


def test_a_baseline_holds_no_absolute_path(tmp_path):
    question = Question(id="q1", user_id="rosa", scenario="factual",
                        question="When is the kiln fired?", expected="Fridays",
                        reference_note_ids=["n1"], retrieved_note_ids=["n1"],
                        cited_note_ids=["n1"], answer="On Fridays [1]", no_context=False)
    home_cache = str(Path.home() / ".cache" / "rag_core" / "models")
    path = baseline.write(
        tmp_path / "baseline.json", [question], baseline.Origin("r1", "abc", "t", "ci"),
        metrics={"quality.recall_at_5": 1.0},
        parameters={"quality": {"dataset": str(REPO_ROOT / "data" / "mydata"),
                                "elsewhere": str(tmp_path / "mydata")}},
        settings={"quality": {"state_dir": {"value": str(REPO_ROOT / ".rag_state"),
                                            "source": "harness"},
                              "model_cache_dir": {"value": home_cache, "source": "env"}}})
    text = path.read_text()
    data = json.loads(text)
    assert data["parameters"]["quality"]["dataset"] == "data/mydata"
    assert data["parameters"]["quality"]["elsewhere"] == "(outside the checkout)/mydata"
    assert data["settings"]["quality"]["state_dir"]["value"] == ".rag_state"
    assert data["settings"]["quality"]["model_cache_dir"]["value"] == \
        "~/.cache/rag_core/models"
    for absolute in (str(REPO_ROOT), str(tmp_path), str(Path.home())):
        assert f'"{absolute}' not in text
