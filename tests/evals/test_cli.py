import argparse

import pytest

from evals import cli


@pytest.mark.parametrize("text,expected", [
    ("top_k=1", ("top_k", 1)),
    ("sanitiser=false", ("sanitiser", False)),
    ("sweep_top_k=[1, 3]", ("sweep_top_k", [1, 3])),
    ("generator=hf", ("generator", "hf")),
    ("similarity_threshold=0.5", ("similarity_threshold", 0.5)),
    ("state_dir=", ("state_dir", "")),
])
def test_parse_param(text, expected):
    assert cli.parse_param(text) == expected


@pytest.mark.parametrize("bad", ["top_k", "=1", "not a name=1"])
def test_parse_param_rejects(bad):
    with pytest.raises(argparse.ArgumentTypeError):
        cli.parse_param(bad)


def test_list_runs_nothing(capsys):
    assert cli.main(["run", "--profile", "ci", "--list"]) == 0
    out = capsys.readouterr().out
    assert "notebooks/01_quality_eval.ipynb" in out
    assert "quality.recall_at_5 >=" in out


def test_unknown_param_is_a_usage_error(capsys):
    assert cli.main(["run", "--profile", "ci", "--param", "no_such_param=1"]) == 2
    assert "no_such_param" in capsys.readouterr().err


def test_missing_baseline_file_is_a_usage_error(tmp_path, capsys):
    code = cli.main(["run", "--profile", "ci", "--baseline", str(tmp_path / "none.json")])
    assert code == 2
