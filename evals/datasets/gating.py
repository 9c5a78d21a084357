"""The gates of a dataset run: the harness's gates, with a ``gates.toml`` beside the data.

The dataset's file has the format of ``evals/gates.toml`` (``[[gate]]`` rows with ``name``,
``op``, ``value``, ``reason``). A row with the name of a harness gate replaces it (its threshold,
operator and reason: the dataset's owner knows its size and its noise); a new name adds a gate.
A row may also say ``skip = true`` (with its ``reason``) to drop a gate that does not fit the
data. Each gate's source is kept, so that a failed gate can say where its threshold came from.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path

from evals.gates import Gate, parse_gates
from evals.jsonish import records


def overlay(base: Iterable[Gate], path: Path) -> tuple[list[Gate], dict[str, str]]:
    """``base`` with the rows of ``path`` applied; returns the gates and gate -> source file
    of the gates that ``path`` set."""
    data: Mapping[str, object] = tomllib.loads(path.read_text(encoding="utf-8"))
    rows = records(data.get("gate"))
    skipped = {str(r.get("name")) for r in rows if r.get("skip")}
    for row in rows:
        if row.get("skip") and not str(row.get("reason", "")).strip():
            raise ValueError(f"{path}: gate {row.get('name')}: skip needs a reason")
    try:
        own = parse_gates({"gate": [r for r in rows if not r.get("skip")]})
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    by_name = {g.name: g for g in own}
    out: list[Gate] = []
    for gate in base:
        if gate.name in skipped:
            continue
        mine = by_name.pop(gate.name, None)
        out.append(replace(mine, profiles=gate.profiles) if mine else gate)
    out += list(by_name.values())
    sources = {g.name: str(path) for g in own}
    return out, sources
