"""How a notebook hands its results to the runner.

A notebook calls ``record(name, metrics, output_dir)``; that writes
``<output_dir>/<name>.results.json`` with flat metric names (``quality.recall_at_5``). The runner
reads every ``*.results.json`` of the notebooks it ran. Values are plain JSON numbers; a metric
that could not be measured (NaN, no items) is stored as null.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypedDict, runtime_checkable

from evals.jsonish import array, mapping, number
from evals.paths import REPORTS_DIR

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class NotebookOutcome:
    name: str
    path: str
    executed: str
    seconds: float
    ok: bool
    error: str = ""
    artifacts: list[str] = field(default_factory=list)
    notes: dict[str, str] = field(default_factory=dict)
    tables: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_row(cls, row: Mapping[str, object]) -> NotebookOutcome:
        """The outcome of a ``details.json`` notebook row (written from this dataclass)."""
        return cls(name=str(row["name"]), path=str(row["path"]), executed=str(row["executed"]),
                   seconds=number(row["seconds"]), ok=bool(row["ok"]),
                   error=str(row.get("error", "")),
                   artifacts=[str(a) for a in array(row.get("artifacts"))],
                   notes={str(k): str(v) for k, v in mapping(row.get("notes")).items()},
                   tables={str(k): str(v) for k, v in mapping(row.get("tables")).items()})


@runtime_checkable
class _Scalar(Protocol):
    """A numpy scalar (or 0-d array): ``item()`` gives the Python value."""

    def item(self) -> object: ...

SUFFIX = ".results.json"


class Results(TypedDict):
    """A ``<name>.results.json`` file, as ``record`` writes it."""

    name: str
    recorded_at: str
    metrics: dict[str, float | int | bool | None]  # flat names, ``<name>.`` first
    artifacts: list[str]  # relative to the folder of the file when inside it
    params: dict[str, object]
    notes: dict[str, str]
    tables: dict[str, str]


def output_dir_for(output_dir: str | Path | None, name: str) -> Path:
    """The folder to write into: the given one, or ``reports/dev/<name>`` when empty."""
    path = Path(output_dir) if output_dir else REPORTS_DIR / "dev" / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def clean_value(value: object) -> float | int | bool | None:
    """A JSON-safe number: numpy scalars unwrapped, NaN and infinities become None."""
    if value is None:
        return None
    if isinstance(value, _Scalar):
        value = value.item()
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return None if not math.isfinite(value) else value
    raise TypeError(f"metric values must be numbers, got {type(value).__name__}: {value!r}")


def flatten(prefix: str, nested: Mapping[str, object]) -> dict[str, float | int | bool | None]:
    """``{"a": {"b": 1}}`` with prefix ``p`` -> ``{"p.a.b": 1}``."""
    out: dict[str, float | int | bool | None] = {}
    for key, value in nested.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping):
            out.update(flatten(name, value))
        else:
            out[name] = clean_value(value)
    return out


def record(name: str, metrics: Mapping[str, object], output_dir: str | Path | None = None, *,
           artifacts: Iterable[str | Path] = (), params: Mapping[str, object] | None = None,
           notes: Mapping[str, str] | None = None,
           tables: Mapping[str, str] | None = None) -> Path:
    """Write the results of notebook ``name``; metric names get the prefix ``name.``.

    ``artifacts`` are files (plots) for the summary page; ``notes`` are short remarks shown
    there, such as why an optional metric was skipped; ``tables`` are Markdown tables (title ->
    table) that the summary page shows as they are.
    """
    folder = output_dir_for(output_dir, name)
    flat = flatten(name, metrics)
    payload: Results = {
        "name": name,
        "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "metrics": flat,
        "artifacts": [str(Path(a).resolve().relative_to(folder.resolve()))
                      if Path(a).resolve().is_relative_to(folder.resolve()) else str(a)
                      for a in artifacts],
        "params": dict(params or {}),
        "notes": {str(k): str(v) for k, v in (notes or {}).items()},
        "tables": {str(k): str(v) for k, v in (tables or {}).items()},
    }
    path = folder / f"{name}{SUFFIX}"
    path.write_text(json.dumps(payload, indent=2, sort_keys=False, default=str) + "\n")
    return path


def load_results(folder: str | Path) -> list[Results]:
    """Every results file in ``folder``, sorted by name."""
    return [json.loads(p.read_text()) for p in sorted(Path(folder).glob(f"*{SUFFIX}"))]


def clear_results(folder: str | Path) -> None:
    """Remove results of an earlier run, so that a failed run cannot pass with old numbers."""
    for path in Path(folder).glob(f"*{SUFFIX}"):
        path.unlink()


def save_rows(frame: pd.DataFrame, output_dir: str | Path, name: str) -> Path:
    """Per-question rows as JSON lines beside the results (for digging after a run)."""
    path = Path(output_dir) / f"{name}.rows.jsonl"
    frame.to_json(path, orient="records", lines=True, default_handler=str)
    return path
