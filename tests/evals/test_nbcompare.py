"""The harness run's nbval check (evals/nbcompare.py): the executed notebook's tagged cells
against the committed references, with nbval's comparison."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import nbformat

from evals import nbcompare
from evals.paths import REPO_ROOT

NOTEBOOK = REPO_ROOT / "notebooks" / "01_quality_eval.ipynb"


@dataclass(frozen=True)
class Spec:
    name: str
    file: Path

    @property
    def stem(self) -> str:
        return self.file.stem


def _executed(tmp_path: Path, change: str = "") -> Path:
    """A copy of the committed notebook as a run leaves it: an injected-parameters cell first,
    the tagged cell's stdout with ``change`` appended."""
    nb = nbformat.read(str(NOTEBOOK), as_version=4)
    injected = nbformat.v4.new_code_cell("profile = 'ci'")
    injected.metadata["tags"] = ["injected-parameters"]
    nb.cells.insert(1, injected)
    index, cell = nbcompare._tagged(nb.cells)[0]
    cell.outputs[0]["text"] += change
    target = tmp_path / NOTEBOOK.name
    nbformat.write(nb, str(target))
    return target


def test_the_same_outputs_pass(tmp_path: Path) -> None:
    _executed(tmp_path)
    assert nbcompare.compare(NOTEBOOK, tmp_path / NOTEBOOK.name) == []
    [gate] = nbcompare.gate_results("ci", [Spec("quality", NOTEBOOK)], tmp_path, ["quality"])
    assert (gate.name, gate.status, gate.value) == ("quality.nbval_mismatched_cells", "passed", 0.0)


def test_a_changed_output_fails_and_names_the_cell(tmp_path: Path) -> None:
    _executed(tmp_path, change="extra line\n")
    [gate] = nbcompare.gate_results("ci", [Spec("quality", NOTEBOOK)], tmp_path, ["quality"])
    tagged = nbcompare._tagged(nbformat.read(str(NOTEBOOK), as_version=4).cells)[0][0]
    assert gate.status == "failed" and gate.value == 1.0
    assert gate.note.startswith(f"cell {tagged}:") and "extra line" in gate.note


def test_prints_split_over_several_stream_outputs_pass(tmp_path: Path) -> None:
    """A kernel that flushed stdout between two prints sends them as two outputs (a landing CI
    run, 2026-11-29); nbval merges streams by name, and so does the check. A split that changes
    the text still fails."""
    target = _executed(tmp_path)
    nb = nbformat.read(str(target), as_version=4)
    index, cell = nbcompare._tagged(nb.cells)[0]
    text = cell.outputs[0]["text"]
    cut = text.index("\n") + 1
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=text[:cut]),
                    nbformat.v4.new_output("stream", name="stdout", text=text[cut:])]
    nbformat.write(nb, str(target))
    assert nbcompare.compare(NOTEBOOK, target) == []
    cell.outputs[1]["text"] = text[cut:] + "extra line\n"
    nbformat.write(nb, str(target))
    [found] = nbcompare.compare(NOTEBOOK, target)
    assert "extra line" in found.detail


def test_images_and_execution_counts_are_not_compared(tmp_path: Path) -> None:
    """nbval's default skips (without --nbdime): an image or a count that differs passes."""
    target = _executed(tmp_path)
    nb = nbformat.read(str(target), as_version=4)
    index, cell = nbcompare._tagged(nb.cells)[0]
    cell.execution_count = 99
    cell.outputs[0]["metadata"] = {"x": 1}
    nbformat.write(nb, str(target))
    assert nbcompare.compare(NOTEBOOK, target) == []


def test_a_failed_notebook_or_another_profile_is_not_compared(tmp_path: Path) -> None:
    _executed(tmp_path, change="x\n")
    spec = Spec("quality", NOTEBOOK)
    assert nbcompare.gate_results("ci", [spec], tmp_path, []) == []
    assert nbcompare.gate_results("dev", [spec], tmp_path, ["quality"]) == []
    assert nbcompare.gate_results("ci", [spec], tmp_path, ["quality"], checked=False) == []
