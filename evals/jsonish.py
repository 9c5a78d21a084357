"""Values read from JSON or TOML payloads (summaries, results, gate files, data sets), typed.

The payloads are ``object`` to the type checker; these adapters are the one place where their
shape is trusted (a cast, no conversion): a missing or empty value reads as empty."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import SupportsFloat, cast


def mapping(value: object) -> Mapping[str, object]:
    """``value``, a JSON object, as a string-keyed mapping (``{}`` for None or empty)."""
    return cast("Mapping[str, object]", value or {})


def records(value: object) -> list[Mapping[str, object]]:
    """``value``, a JSON array of objects, as a list of mappings (``[]`` for None or empty)."""
    return list(cast("Iterable[Mapping[str, object]]", value or []))


def number(value: object) -> float:
    """``float(value)`` of a JSON number (or numeric string, or numpy scalar); a ``TypeError``
    as ``float`` raises for anything else."""
    if isinstance(value, str | SupportsFloat):
        return float(value)
    raise TypeError(f"float() argument must be a string or a real number, not "
                    f"'{type(value).__name__}'")


def array(value: object) -> list[object]:
    """``value``, a JSON array, as a list (``[]`` for None or empty)."""
    return list(cast("Iterable[object]", value or []))
