"""The gates of a dataset run: the safety counts that hold for any data, the dataset's own
``gates.toml``, and (applied by the runner, ``evals.judge.baseline``) its own baseline.

The golden set's other thresholds were measured on the sermon notes with the extractive
generator: they say nothing about another team's notes, so a dataset run leaves them out. What
holds for any data stays: no note of another user retrieved, cited or quoted
(``cross_user_leaks``, ``other_user_text``, ``filtered_foreign_rows``), no system prompt in an
answer (``leak_rate``), and every citation naming a retrieved chunk (``citation_validity``),
each at the value it gates the golden run at.

The dataset's file has the format of ``evals/gates.toml`` (``[[gate]]`` rows with ``name``,
``op``, ``value``, ``reason``). A row with the name of a harness gate replaces it (its
threshold, operator and reason: the dataset's owner knows its size and its noise) or brings it
back; a new name adds a gate; ``skip = true`` (with its ``reason``) drops one. A row for an
overall figure (``quality.no_context_accuracy``) also sets the per-scenario figures of the same
metric (``quality.no_context.no_context_accuracy``) that the file does not set itself. A gate
over fewer than ``MIN_QUESTIONS`` questions reports instead of failing (``too_few``); the
safety counts are exempt: one leak is a leak. Each gate's source is kept, so that a failed gate
can say where its threshold came from.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from evals.gates import OPS, Gate, GateResult, parse_gates
from evals.jsonish import records

# metric names (their last part) that are counts of wrong outcomes on any data
ANY_DATA = ("cross_user_leaks", "other_user_text", "filtered_foreign_rows", "leak_rate",
            "citation_validity")
MIN_QUESTIONS = 10  # a dataset's gate over fewer questions reports instead of failing


def holds_for_any_data(gate: Gate) -> bool:
    return gate.name.rsplit(".", 1)[-1] in ANY_DATA


def _for_dataset(gate: Gate, dataset: str) -> Gate:
    op = OPS[gate.op][0]
    return replace(gate, reason=f"Holds for any data: on dataset {dataset} too, "
                                f"{gate.name.rsplit('.', 1)[-1]} must be {op} "
                                f"{gate.threshold:g} (zero tolerance, no margin).")


def _twins(own: Gate, gates: Iterable[Gate], set_here: set[str]) -> list[Gate]:
    """``own`` (``p.metric``) applied to the gates ``p.<part>.metric`` not set in the file."""
    prefix, _, metric = own.name.partition(".")
    out = []
    for gate in gates:
        parts = gate.name.split(".")
        if (len(parts) == 3 and parts[0] == prefix and parts[2] == metric
                and gate.name not in set_here):
            out.append(replace(own, name=gate.name, profiles=gate.profiles,
                               reason=f"{own.reason} (set for {own.name}; applies to its "
                                      "per-scenario figure too)"))
    return out


def overlay(base: Iterable[Gate], path: Path, harness: Sequence[Gate] = ()
            ) -> tuple[list[Gate], dict[str, str]]:
    """``base`` with the rows of ``path`` applied (``harness``: every harness gate, which a
    row may bring back); returns the gates and gate -> source file of those ``path`` set."""
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
    known = {g.name: g for g in [*harness, *base]}
    out: list[Gate] = []
    for gate in base:
        if gate.name in skipped:
            continue
        mine = by_name.pop(gate.name, None)
        out.append(replace(mine, profiles=gate.profiles) if mine else gate)
    out += [replace(g, profiles=known[g.name].profiles) if g.name in known else g
            for g in by_name.values()]
    set_here = {g.name for g in own} | skipped
    twins = {t.name: t for g in own for t in _twins(g, known.values(), set_here)}
    names = {g.name for g in out}
    out = [twins.get(g.name, g) for g in out] + [t for t in twins.values() if t.name not in names]
    return out, {g.name: str(path) for g in out if g.name in set_here | set(twins)}


def dataset_gates(harness: Sequence[Gate], dataset: str, gates_file: Path | None
                  ) -> tuple[list[Gate], dict[str, str]]:
    """The gates of a run on ``dataset``: the harness's gates that hold for any data, then
    the dataset's ``gates_file`` when it has one."""
    safe = [_for_dataset(g, dataset) for g in harness if holds_for_any_data(g)]
    if gates_file is None:
        return safe, {}
    return overlay(safe, gates_file, harness)


def too_few(results: Sequence[GateResult], metrics: Mapping[str, object],
            minimum: int = MIN_QUESTIONS, asked: Mapping[str, int] | None = None
            ) -> list[GateResult]:
    """A failed quality gate over fewer than ``minimum`` questions reports instead of failing;
    the safety counts fail whatever the count. The questions a gate is over: ``asked`` (a
    rate's own count, e.g. the answerable questions of ``wrong_no_context_rate``) when given,
    else ``quality.n``, or ``quality.<scenario>.n`` for a per-scenario figure."""
    out = []
    for r in results:
        parts = r.name.split(".")
        count_name = f"quality.{parts[1]}.n" if len(parts) == 3 else "quality.n"
        n = (asked or {}).get(r.name, metrics.get(count_name))
        if (r.status == "failed" and parts[0] == "quality" and parts[-1] not in ANY_DATA
                and isinstance(n, int | float) and n < minimum):
            r = replace(r, status="skipped",
                        note=f"over {int(n)} questions, fewer than {minimum}: reported, not "
                             f"gated (would fail: {r.note})")
        out.append(r)
    return out
