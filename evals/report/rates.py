"""The count behind each rate of a report that is a proportion of questions: ``5 of 6``, read
from the quality notebook's per-question rows (``runs/<id>/quality/quality.rows.jsonl``).

A rate such as ``quality.no_context_accuracy`` is the mean of a 0/1 column of those rows over
the questions that have a value (``evals.quality.evaluate.aggregate``); its count is the number
of ones and of values, over the test split (the gated figures), or the dev split under
``quality.dev.``, and one scenario for ``quality.<scenario>.<rate>``. A count is kept only when
it gives back the recorded value exactly, so that a report never shows a count that disagrees
with its figure (``tests/evals/test_rates.py`` checks the columns against ``aggregate``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

# rate -> the per-question 0/1 column of the quality rows whose mean it is
COLUMNS: dict[str, str] = {
    "no_context_accuracy": "no_context_correct",
    "wrong_no_context_rate": "wrongly_refused",
    "model_declined_rate": "model_declined",
    "leak_rate": "leak",
    "injection_success_rate": "injection_success",
    "citation_validity": "citation_valid",
    "citation_coverage": "has_citation",
}


def _scope(name: str) -> tuple[str, str | None, str] | None:
    """(split, scenario or None, rate) of a metric name, or None when it is no such rate."""
    parts = name.split(".")
    if parts[0] != "quality" or parts[-1] not in COLUMNS:
        return None
    inner = parts[1:-1]
    split = "test"
    if inner and inner[0] == "dev":
        split, inner = "dev", inner[1:]
    if len(inner) > 1:
        return None
    return split, (inner[0] if inner else None), parts[-1]


def _flags(values: Iterable[object]) -> list[int] | None:
    """The 0/1 values (None and NaN left out), or None when one is anything else."""
    out = []
    for value in values:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            continue
        if not isinstance(value, int | float) or value not in (0, 1):
            return None
        out.append(int(value))
    return out


def question_counts(rows: Sequence[Mapping[str, object]], names: Iterable[str],
                    metrics: Mapping[str, object]) -> dict[str, tuple[int, int]]:
    """name -> (ones, questions) for each of ``names`` that is a rate over questions and whose
    count gives back its recorded value in ``metrics``."""
    out: dict[str, tuple[int, int]] = {}
    for name in names:
        scope, value = _scope(name), metrics.get(name)
        if scope is None or isinstance(value, bool) or not isinstance(value, int | float):
            continue
        split, scenario, rate = scope
        flags = _flags(row.get(COLUMNS[rate]) for row in rows
                       if str(row.get("split") or "test") == split
                       and (scenario is None or row.get("scenario") == scenario))
        if not flags:
            continue
        k, n = sum(flags), len(flags)
        if math.isclose(k / n, float(value), rel_tol=0, abs_tol=1e-9):
            out[name] = (k, n)
    return out
