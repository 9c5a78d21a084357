"""A dataset is checked whole before a run reads it: only regular files (a link to /dev/zero or
a FIFO is refused before it is opened), bounded sizes, malformed JSON named with its file and
line, no NUL characters, and a note ``rag-core ingest`` would refuse, each a coded error; the
run itself ends with exit 2 and the code, never a hang or a traceback."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from evals.cli import main
from evals.datasets import DatasetError, load_dataset
from evals.datasets.checks import MAX_FILE_BYTES, check_dataset
from evals.paths import GOLDEN_DIR

NOTE = "---\nid: {id}\ntitle: {id}\ndate: 2025-01-05\n---\n\n{body}\n"


def dataset(root: Path) -> Path:
    folder = root / "notes" / "kim"
    folder.mkdir(parents=True)
    (folder / "kim-1.md").write_text(NOTE.format(id="kim-1", body="The lathe is oiled on "
                                                 "Mondays."), encoding="utf-8")
    (root / "qa.jsonl").write_text(json.dumps({"user_id": "kim", "question": "When is the "
                                              "lathe oiled?", "reference_note_ids": ["kim-1"]})
                                   + "\n", encoding="utf-8")
    return root


def refused(root: Path, code: str, *says: str) -> None:
    with pytest.raises(DatasetError) as err:
        check_dataset(root)
    assert err.value.code == code, err.value
    for text in says:
        assert text in str(err.value), err.value


def test_a_sound_dataset_and_the_golden_set_pass(tmp_path: Path) -> None:
    check_dataset(dataset(tmp_path / "d"))
    check_dataset(GOLDEN_DIR)
    assert len(load_dataset(tmp_path / "d").qa) == 1


def test_a_qa_file_linked_to_a_device_is_refused_before_it_is_read(tmp_path: Path) -> None:
    root = dataset(tmp_path / "d")
    (root / "qa").mkdir()
    (root / "qa" / "x.jsonl").symlink_to("/dev/zero")
    refused(root, "DATASET_BAD_FILE", "x.jsonl", "outside the dataset")


def test_a_fifo_is_refused_not_waited_on(tmp_path: Path) -> None:
    root = dataset(tmp_path / "d")
    (root / "semantic_pairs").mkdir()
    os.mkfifo(root / "semantic_pairs" / "p.jsonl")
    refused(root, "DATASET_BAD_FILE", "p.jsonl", "not a regular file")


def test_a_link_inside_the_dataset_is_read_as_its_target(tmp_path: Path) -> None:
    root = dataset(tmp_path / "d")
    (root / "qa").mkdir()
    (root / "qa" / "same.jsonl").symlink_to(root / "qa.jsonl")
    check_dataset(root)


def test_a_file_over_its_size_limit_is_refused(tmp_path: Path) -> None:
    root = dataset(tmp_path / "d")
    with open(root / "qa.jsonl", "ab") as f:  # sparse: no disk used
        f.truncate(MAX_FILE_BYTES + 1)
    refused(root, "DATASET_BAD_FILE", "qa.jsonl", "bytes")


def test_malformed_json_is_named_with_its_file_and_line(tmp_path: Path) -> None:
    root = dataset(tmp_path / "d")
    (root / "semantic_pairs.jsonl").write_text('{"a": "x"}\n\n{"a": oops}\n', encoding="utf-8")
    refused(root, "DATASET_BAD_JSON", "semantic_pairs.jsonl, line 3")


@pytest.mark.parametrize("where", ["qa", "note"])
def test_nul_characters_are_refused_with_a_code(tmp_path: Path, where: str) -> None:
    root = dataset(tmp_path / "d")
    if where == "qa":
        (root / "qa.jsonl").write_text(json.dumps({"user_id": "kim", "question": "When\x00?"})
                                       + "\n", encoding="utf-8")
        refused(root, "DATASET_BAD_TEXT", "qa.jsonl, line 1", "NUL")
    else:
        (root / "notes" / "kim" / "kim-2.md").write_text(
            NOTE.format(id="kim-2", body="Oil\x00 the lathe."), encoding="utf-8")
        refused(root, "DATASET_BAD_NOTE", "kim-2.md", "U+0000")


def test_the_run_stops_with_the_code_before_it_starts(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    root = dataset(tmp_path / "d")
    (root / "qa").mkdir()
    (root / "qa" / "x.jsonl").symlink_to("/dev/zero")
    assert main(["run", "--dataset", str(root), "--profile", "smoke"]) == 2
    err = capsys.readouterr().err
    assert "evals: error: DATASET_BAD_FILE" in err and "Traceback" not in err
