"""How a metric's value and difference are written in a report, from its name.

- dollars (``*_usd``, ``*cost*``): ``$12.34`` (``$0.000213`` under a cent, so that a cost per
  answer is not shown as ``$0.00``); differences ``+$0.05``;
- rates and shares (``*_rate``, ``*_share``, ``*accuracy``, ``*validity``, ``*coverage``,
  ``*reduction``): ``93.1 %``, differences in percentage points ``+1.2 pp``;
- times (``*_ms``, ``*_s``): ``412 ms``, ``3.5 s``;
- counts (integers, ``n``, ``*_leaks``, ``*_calls``, ``*requests``): ``1,204``, ``+11``;
- anything else (recall, MRR, ROUGE-L, ratios): four decimals, ``-0.0100``.
"""

from __future__ import annotations

import math
from typing import Literal

Kind = Literal["usd", "pct", "ms", "s", "count", "plain"]
RATE_ENDINGS = ("_rate", "rate", "_share", "accuracy", "validity", "coverage", "reduction")
COUNT_ENDINGS = ("_leaks", "_calls", "requests", "_count", "_errors")


def kind(name: str, value: object = None) -> Kind:
    last = name.rsplit(".", 1)[-1]
    if last.endswith("_usd"):
        return "usd"
    if last.endswith(RATE_ENDINGS):
        return "pct"
    if "cost" in last or "dollars" in last:
        return "usd"
    if last.endswith("_ms"):
        return "ms"
    if last.endswith("_s"):
        return "s"
    if last == "n" or last.startswith("n_") or last.endswith(COUNT_ENDINGS):
        return "count"
    if isinstance(value, int) and not isinstance(value, bool):
        return "count"
    return "plain"


def _usd(value: float, signed: bool = False) -> str:
    sign = ("+" if value > 0 else "-" if value < 0 else "") if signed else (
        "-" if value < 0 else "")
    size = abs(value)
    if size >= 0.01 or size == 0:
        text = f"{size:,.2f}"
    else:  # three significant digits, never an exponent: $0.0000544
        text = f"{size:.{2 - math.floor(math.log10(size))}f}"
    return f"{sign}${text}"


def fmt_value(name: str, value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value).lower()
    if not isinstance(value, int | float):
        return str(value)
    k = kind(name, value)
    if k == "usd":
        return _usd(float(value))
    if k == "pct":
        return f"{100 * value:.1f} %"
    if k == "ms":
        return f"{value:,.0f} ms" if abs(value) >= 10 else f"{value:.2f} ms"
    if k == "s":
        return f"{value:,.1f} s"
    if k == "count" and float(value).is_integer():
        return f"{int(value):,}"
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.4f}"


def fmt_delta(name: str, delta: float | None, value: object = None) -> str:
    """The signed difference in the unit of the metric; ``0`` when it is too small to show."""
    if delta is None:
        return "new"
    k = kind(name, value)
    if k == "usd":
        return "0" if delta == 0 else _usd(delta, signed=True)
    if k == "pct":
        return "0" if abs(delta) < 5e-4 else f"{100 * delta:+.1f} pp"
    if k == "ms":
        return "0" if abs(delta) < 0.005 else (
            f"{delta:+,.0f} ms" if abs(delta) >= 10 else f"{delta:+.2f} ms")
    if k == "s":
        return "0" if abs(delta) < 0.05 else f"{delta:+,.1f} s"
    if k == "count" and float(delta).is_integer():
        return "0" if delta == 0 else f"{int(delta):+,}"
    if abs(delta) < 5e-5:
        return "0"
    return f"{delta:+.4f}"
