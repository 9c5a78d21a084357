"""``RAG_OTEL_EXPORTER=console``, the debugging aid: the SDK's spans printed to stderr as they
end; and a process installs its provider once (a second ``setup`` changes nothing). Each in a
fresh interpreter, since a tracer provider is set once per process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import os
from opentelemetry import trace
from rag_core.telemetry import export
export.setup("console")
os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = "not a url"  # refused, were it checked again
export.setup("otlp")  # a provider is set once per process: not installed, not checked
with trace.get_tracer("probe").start_as_current_span("console-probe") as span:
    span.set_attribute("rag.probe", 7)
print(type(trace.get_tracer_provider()).__name__)
"""


def test_console_prints_each_span_to_stderr_and_a_second_setup_changes_nothing() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env["PYTHONPATH"] = str(ROOT)
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "TracerProvider"
    start = out.stderr.index("{")
    span, _ = json.JSONDecoder().raw_decode(out.stderr[start:])
    assert span["name"] == "console-probe" and span["attributes"] == {"rag.probe": 7}
    assert span["resource"]["attributes"]["service.name"] == "rag_core"
