"""The service's JSON log lines as a test reads them back (the ``json_log`` fixture of
tests/conftest.py captures them)."""

from __future__ import annotations

import io
import json
from typing import Any


def log_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    """Each line of ``stream`` parsed."""
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
