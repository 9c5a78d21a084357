"""The nbval check of an executed notebook, without executing it again.

A harness run executes each notebook once (papermill); this compares the cells tagged
``nbval-check-output`` (:data:`evals.nbrefs.CHECK_TAG`) of the executed copy with the committed
notebook's stored outputs. The comparison is nbval's own (``IPyNbCell.compare_outputs`` of the
installed nbval, with the keys its ``IPyNbFile`` skips by default and no sanitize patterns, as
``pytest --nbval-lax`` compares a tagged cell, and each side's stream outputs merged by name first
as nbval merges them): this module only pairs the cells and names the ones that differ. A kernel
may send one cell's prints as one stream output or as several, depending on when its buffer was
flushed; merged, the two read the same. The references are refreshed with
``python -m evals refresh-refs``.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import nbformat

from evals.nbrefs import CHECK_TAG

if TYPE_CHECKING:
    from evals.gates import GateResult

Node = nbformat.NotebookNode


class Spec(Protocol):
    """What of a :class:`evals.profiles.NotebookSpec` the check reads."""

    @property
    def name(self) -> str: ...
    @property
    def file(self) -> Path: ...
    @property
    def stem(self) -> str: ...


@dataclass(frozen=True)
class Mismatch:
    cell: int  # the code cell's index in the committed notebook (0-based, all cells counted)
    detail: str

    def __str__(self) -> str:
        return f"cell {self.cell}: {self.detail}"


class _NoHook:
    """What nbval's failure text asks pytest for (an assert repr): nothing, so nbval falls back
    to printing both outputs."""

    @staticmethod
    def pytest_assertrepr_compare(**_: object) -> list[list[str]]:
        return []


@dataclass
class _Parent:
    skip_compare: tuple[str, ...]
    sanitize_patterns: dict[str, str] = field(default_factory=dict)


class _Cell:
    """The parts of an ``IPyNbCell`` that its ``compare_outputs`` reads."""

    def __init__(self) -> None:
        from nbval import plugin

        # nbval's IPyNbFile defaults (without --nbdime: images are not compared)
        skip = ("metadata", "traceback", "prompt_number", "output_type", "name",
                "execution_count", "application/vnd.jupyter.widget-view+json",
                "image/png", "image/jpeg")
        self.parent = _Parent(skip)
        self.colors = plugin.nocolors
        self.ihook = _NoHook()
        self.config = None
        self.comparison_traceback: list[str] = []
        self._plugin = plugin

    def sanitize(self, s: object) -> object:
        return self._plugin.IPyNbCell.sanitize(self, s)  # type: ignore[arg-type]

    def format_output_compare(self, key: str, left: object, right: object) -> None:
        self._plugin.IPyNbCell.format_output_compare(self, key, left, right)  # type: ignore[arg-type]

    def compare(self, test: list[Node], ref: list[Node]) -> str:
        """"" when nbval finds them equal, else its account of the difference (each side's
        streams merged by name, on copies: nbval's ``coalesce_streams`` edits what it merges)."""
        self.comparison_traceback = []
        merge = self._plugin.coalesce_streams
        test, ref = merge(copy.deepcopy(test)), merge(copy.deepcopy(ref))
        same = self._plugin.IPyNbCell.compare_outputs(self, test, ref)  # type: ignore[arg-type]
        return "" if same else "\n".join(str(t) for t in self.comparison_traceback)


def _tagged(cells: Iterable[Node]) -> list[tuple[int, Node]]:
    return [(i, c) for i, c in enumerate(cells)
            if c.get("cell_type") == "code" and CHECK_TAG in c.get("metadata", {}).get("tags", [])]


def compare(reference: str | Path, executed: str | Path) -> list[Mismatch]:
    """The tagged cells of ``executed`` whose outputs nbval would find different from those
    stored in ``reference`` (papermill's injected-parameters cell is skipped; a tagged cell
    missing from the executed copy is a mismatch)."""
    ref = nbformat.read(str(reference), as_version=4)
    run = nbformat.read(str(executed), as_version=4)
    ran = [c for c in run.cells
           if "injected-parameters" not in c.get("metadata", {}).get("tags", [])]
    ran_tagged = {c.source: c for _, c in _tagged(ran)}
    checker = _Cell()
    out = []
    for index, cell in _tagged(ref.cells):
        test = ran_tagged.get(cell.source)
        if test is None:
            out.append(Mismatch(index, "not in the executed notebook (its source differs)"))
            continue
        detail = checker.compare(list(test.outputs), list(cell.outputs))
        if detail:
            out.append(Mismatch(index, detail))
    return out


# Profiles whose runs are checked: their parameters leave the tagged cells' outputs as the
# committed references hold them (checked on a ci run's notebooks of 2026-11-28; smoke is
# make test's former nbval profile). A run with --param or --dataset is not checked.
CHECKED_PROFILES = ("ci", "smoke")


def gate_results(profile: str, specs: Iterable[Spec], out_root: Path, ran_ok: Iterable[str],
                 checked: bool = True) -> list[GateResult]:
    """One gate ``<notebook>.nbval_mismatched_cells`` per notebook of the run with tagged
    cells: failed when nbval's comparison finds a tagged cell's output changed (the note names
    the cells). A notebook that failed has its own failure; its references are not compared."""
    from evals.gates import GateResult

    if profile not in CHECKED_PROFILES or not checked:
        return []
    ok = set(ran_ok)
    results = []
    for spec in specs:
        if spec.name not in ok or not _tagged(nbformat.read(str(spec.file), as_version=4).cells):
            continue
        found = compare(spec.file, out_root / f"{spec.stem}.ipynb")
        note = "; ".join(str(m) for m in found)
        results.append(GateResult(f"{spec.name}.nbval_mismatched_cells", float(len(found)),
                                  0.0, "le", "failed" if found else "passed", note))
    return results
