"""``python -m evals calibrate``: the choice within the limits, coded errors for a dataset that
cannot be calibrated, and a whole run on the init-dataset example against the real PostgreSQL
and Redis (its env file read back as the service reads its environment)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from evals.cli import main
from evals.datasets.example import EXAMPLE_DIR, write_example
from evals.decisions import calibrate
from rag_core.config import Settings


def _floors(*rows: tuple[float, float, float]) -> pd.DataFrame:
    return pd.DataFrame([{"floor": f, "no_context_accuracy": acc, "answerable_refused": ref,
                          "no_context_items": 10, "answerable_items": 50}
                         for f, acc, ref in rows])


def _points(*rows: tuple[str, float, float, int]) -> pd.DataFrame:
    return pd.DataFrame([{"mode": m, "threshold": t, "reuse": r, "false_hits": fh,
                          "near_misses": 20, "paraphrases": 20} for m, t, r, fh in rows])


def test_the_floor_is_the_most_accurate_within_the_refusal_limit() -> None:
    curve = _floors((0.1, 0.5, 0.0), (0.2, 0.7, 0.0), (0.3, 0.7, 0.02), (0.4, 0.9, 0.1))
    choice = calibrate.choose_floor(curve, 0.02)
    assert choice.met and choice.values == {"RAG_SIMILARITY_THRESHOLD": 0.2}  # lowest on a tie
    unmet = calibrate.choose_floor(_floors((0.1, 0.9, 0.05), (0.2, 0.95, 0.1)), 0.02)
    assert not unmet.met and unmet.values == {"RAG_SIMILARITY_THRESHOLD": 0.1}


def test_the_cache_reuses_most_within_the_false_hit_limit_strict_on_a_tie() -> None:
    curve = _points(("strict", 0.6, 0.1, 0), ("loose", 0.6, 0.5, 3), ("loose", 0.8, 0.3, 0),
                    ("loose", 0.9, 0.1, 0))
    assert calibrate.choose_cache(curve, 0).values == {
        "RAG_SEMANTIC_MODE": "loose", "RAG_SEMANTIC_CACHE_THRESHOLD": 0.8}
    assert calibrate.choose_cache(curve, 3).values["RAG_SEMANTIC_CACHE_THRESHOLD"] == 0.6
    tie = _points(("strict", 0.6, 0.1, 0), ("loose", 0.9, 0.1, 0))
    assert calibrate.choose_cache(tie, 0).values == {"RAG_SEMANTIC_MODE": "strict"}


def test_a_dataset_without_both_kinds_of_pair_is_a_coded_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = write_example(tmp_path / "data")
    pairs = [json.loads(line) for line in
             (folder / "semantic_pairs.jsonl").read_text().splitlines() if line.strip()]
    (folder / "semantic_pairs.jsonl").write_text("".join(
        json.dumps(p) + "\n" for p in pairs if p["label"] == "paraphrase"))
    assert main(["calibrate", "--dataset", str(folder)]) == 2
    assert "DATASET_NOT_LABELLED" in capsys.readouterr().err
    assert main(["calibrate", "--dataset", str(tmp_path / "absent")]) == 2
    assert "DATASET_NOT_FOUND" in capsys.readouterr().err
    assert main(["calibrate", "--dataset", str(folder), "--max-refused", "2"]) == 2
    assert "CALIBRATE_BAD_LIMIT" in capsys.readouterr().err


@pytest.mark.integration
def test_calibrate_on_the_example_writes_an_env_file_within_the_limits(
        tmp_path: Path, database_url: str, redis_url: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("REDIS_URL", redis_url)
    folder = tmp_path / "coop"
    shutil.copytree(EXAMPLE_DIR, folder)
    out = tmp_path / "out" / "calibrated.env"
    code = main(["calibrate", "--dataset", str(folder), "--out", str(out),
                 "--state-dir", str(tmp_path / "state")])
    printed = capsys.readouterr().out
    assert "## No-context floor" in printed and "## Semantic cache" in printed
    values = dict(line.split("=", 1) for line in out.read_text().splitlines()
                  if line and not line.startswith("#"))
    assert {"RAG_SIMILARITY_THRESHOLD", "RAG_SEMANTIC_MODE"} <= set(values)
    for name, value in values.items():  # the service reads the file as its environment
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.decisions.similarity_threshold == float(values["RAG_SIMILARITY_THRESHOLD"])
    assert settings.decisions.semantic_mode == values["RAG_SEMANTIC_MODE"]
    assert out.with_suffix(".png").stat().st_size > 5000
    table = out.with_suffix(".md").read_text()
    assert "| floor |" in table and "| mode |" in table
    # the example's labels leave room within the default limits: both are met
    assert code == 0 and "NOT within" not in out.read_text()
