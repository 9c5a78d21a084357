"""Arize Phoenix, the trace viewer of the ``viewer`` extra (``pip install -e '.[viewer]'``), as a
real process on loopback ports for tests (tests import it by name, as ``promtool``): its own
working folder, no telemetry of its own, no external resources. Its REST API reads spans back.

Without the extra the tests that need it are skipped, unless ``VIEWER_REQUIRED=1`` (set it where
the extra is installed, so that a broken install fails instead of skipping)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from served_app import kill_group, wait_for

from rag_core.procs import free_port

INSTALL_HINT = "install the viewer extra: pip install -e '.[viewer]' (Arize Phoenix)"


def phoenix_command() -> str:
    """The ``phoenix`` command beside this Python (the extra installed), else on PATH."""
    beside = Path(sys.executable).parent / "phoenix"
    found = str(beside) if beside.exists() else shutil.which("phoenix")
    if found is None:
        if os.environ.get("VIEWER_REQUIRED", "") in ("1", "true", "yes"):
            pytest.fail(f"Phoenix is required here (VIEWER_REQUIRED) but missing: {INSTALL_HINT}")
        pytest.skip(INSTALL_HINT)
    return found


@dataclass
class Viewer:
    url: str

    def spans(self, **filters: Any) -> list[dict[str, Any]]:
        """Spans of the default project as the viewer's REST API returns them, attributes made
        a plain dict (``trace_id``, ``name`` ... filter)."""
        got = httpx.get(f"{self.url}/v1/projects/default/spans/otlpv1",
                        params={"limit": 1000, **filters}, timeout=30)
        got.raise_for_status()
        return [{**span, "attributes": {a["key"]: _value(a["value"])
                                        for a in span.get("attributes") or []}}
                for span in got.json()["data"]]


def _value(value: dict[str, Any]) -> Any:
    for kind in ("string_value", "int_value", "double_value", "bool_value"):
        if value.get(kind) is not None:
            return value[kind]
    if value.get("array_value") is not None:
        return [_value(v) for v in value["array_value"].get("values") or []]
    return None


@contextlib.contextmanager
def phoenix(work: Path) -> Iterator[Viewer]:
    command = phoenix_command()
    work.mkdir(parents=True, exist_ok=True)
    port, grpc = free_port(), free_port()
    env = {**os.environ, "PHOENIX_HOST": "127.0.0.1", "PHOENIX_PORT": str(port),
           "PHOENIX_GRPC_PORT": str(grpc), "PHOENIX_WORKING_DIR": str(work),
           "PHOENIX_TELEMETRY_ENABLED": "false", "PHOENIX_ALLOW_EXTERNAL_RESOURCES": "false"}
    log_path = work / "phoenix.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([command, "serve"], cwd=work, env=env, stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        # slow to start on a busy machine (its database migrations, the UI's assets)
        wait_for("Phoenix to start", lambda: httpx.get(f"{url}/healthz", timeout=5)
                 .status_code == 200, deadline_s=300, every_s=1, log=log_path)
        yield Viewer(url)
    finally:
        kill_group(proc)
