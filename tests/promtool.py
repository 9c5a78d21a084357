"""promtool and PromQL helpers for the tests of deploy/ (tests import it by name).

promtool comes with Debian's ``prometheus`` package (``make setup`` installs it where it can).
Missing, the tests that need it are skipped on a developer's machine and FAIL under CI
(``CI=true``, as ``.ci/run`` sets it): a check that silently did not run is no check.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
INSTALL_HINT = "install Debian's prometheus package: apt-get install -y prometheus"


def tool(name: str, hint: str = INSTALL_HINT) -> str:
    """The path of ``promtool`` / ``prometheus`` (or another tool ``make setup`` installs,
    ``hint`` saying how); skip (or fail under CI) when missing."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} not found; {hint}"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def promtool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    # The timeout only stops a promtool that hangs: every call ends on its own, and under
    # `make test`'s coverage on a busy machine one took over 120 s, so the guard is generous.
    return subprocess.run([tool("promtool"), *args], cwd=cwd, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=900)


# --- metric names in PromQL -------------------------------------------------------------------

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGES = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_WORD = re.compile(r"(?<![A-Za-z0-9_:.$])[A-Za-z_:][A-Za-z0-9_:]*")
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
             "group_left", "group_right", "inf", "nan", "Inf", "NaN"}


def metric_names(expr: str) -> set[str]:
    """The metric names an expression selects (not functions, labels or keywords)."""
    text = _STRING.sub('""', expr)
    text = _MATCHERS.sub("", text)
    text = _RANGES.sub("", text)
    text = _GROUPING.sub("", text)
    names = set()
    for match in _WORD.finditer(text):
        if text[match.end():].lstrip().startswith("("):
            continue  # a function or an aggregation
        if match.group(0) not in _KEYWORDS:
            names.add(match.group(0))
    return names


def exported_names() -> set[str]:
    """Every series name the app can export: its registry's families, expanded to samples."""
    import rag_core.app  # noqa: F401 (registers the HTTP metrics)
    from rag_core.telemetry import metrics

    names = set()
    for family in metrics.REGISTRY.collect():
        if family.type == "counter":
            names.add(f"{family.name}_total")
        elif family.type == "histogram":
            names.update(f"{family.name}{s}" for s in ("_bucket", "_sum", "_count"))
        else:
            names.add(family.name)
    return names
