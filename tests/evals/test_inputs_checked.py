"""Inputs checked everywhere: ``evals calibrate``'s env file holds only comments and
``NAME=VALUE`` lines that are safe to source, and ``generate`` and ``calibrate`` refuse what a
run refuses (evals/decisions/calibrate.py, evals/datasets/checks.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from evals import team_settings
from evals.cli import main
from evals.datasets.example import write_example
from evals.decisions import calibrate

HOSTILE = "data/x\ntouch PWNED\n$(touch PWNED2) `touch PWNED3`"


def _result() -> calibrate.Calibration:
    floor = calibrate.Choice({"RAG_SIMILARITY_THRESHOLD": 0.2}, {"accuracy": 0.9}, True)
    cache = calibrate.Choice({"RAG_SEMANTIC_MODE": "loose; touch PWNED4",
                              "RAG_SEMANTIC_CACHE_THRESHOLD": 0.8}, {"reuse": 0.3}, True)
    return calibrate.Calibration(pd.DataFrame(), pd.DataFrame(), floor, cache)


def test_the_env_file_is_only_comments_and_safe_name_value_lines(tmp_path):
    text = calibrate.env_text(_result(), HOSTILE, "--max-refused 0.02")
    for line in text.splitlines():
        assert line.startswith("#") or line.split("=", 1)[0].isidentifier(), line
    assert text.count("\n") == len(text.splitlines())  # no line the path broke in two
    env = tmp_path / "calibrated.env"
    env.write_text(text)
    read = team_settings.read_env_file(env)
    assert read["RAG_SEMANTIC_MODE"] == "loose; touch PWNED4"  # a value, never a command
    assert read["RAG_SIMILARITY_THRESHOLD"] == "0.2"


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_sourcing_the_env_file_runs_nothing(tmp_path):
    env = tmp_path / "calibrated.env"
    env.write_text(calibrate.env_text(_result(), HOSTILE, ""))
    done = subprocess.run(["bash", "-c", f"set -a; . {env}; set +a; "
                           "printf '%s' \"$RAG_SEMANTIC_MODE\""],
                          cwd=tmp_path, capture_output=True, text=True, check=True)
    assert done.stdout == "loose; touch PWNED4"
    assert not [p for p in os.listdir(tmp_path) if p.startswith("PWNED")]


def test_calibrate_refuses_a_dataset_path_with_a_newline(tmp_path, capsys):
    folder = write_example(tmp_path / "bad\nname")
    assert main(["calibrate", "--dataset", str(folder)]) == 2
    assert "DATASET_BAD_PATH" in capsys.readouterr().err


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_calibrate_checks_the_dataset_as_a_run_does(tmp_path, capsys):
    folder = write_example(tmp_path / "coop")
    os.mkfifo(folder / "notes" / "rosa" / "pipe.md")
    assert main(["calibrate", "--dataset", str(folder)]) == 2
    assert "DATASET_BAD_FILE" in capsys.readouterr().err


def _notes(tmp_path: Path) -> Path:
    folder = write_example(tmp_path / "coop") / "notes"
    return folder


@pytest.mark.parametrize("breakage", ["fifo", "link", "huge", "nul"])
def test_generate_checks_the_notes_as_a_run_does(tmp_path, capsys, breakage):
    notes = _notes(tmp_path)
    target = notes / "rosa" / "broken.md"
    if breakage == "fifo":
        os.mkfifo(target)
    elif breakage == "link":
        target.symlink_to("/dev/zero")
    elif breakage == "huge":
        target.write_text("title: big\n\n" + "clay " * 5_000_000)
    else:
        target.write_text("---\ntitle: nul\n---\nA note with a \x00 in it.\n")
    code = main(["generate", "--notes", str(notes), "--out", str(tmp_path / "gen")])
    assert code == 2
    err = capsys.readouterr().err
    assert "DATASET_BAD_" in err and "Traceback" not in err
