"""``RAG_OTEL_EXPORTER=otlp`` in a process of its own, sending to a receiver of this test's own
(a real OTLP/HTTP endpoint on loopback, ``tests/otlp_receiver.py``): the service's spans go
through the service's own tracer and the bounded batch queue to ``OTEL_EXPORTER_OTLP_ENDPOINT``
with their names, attributes and parents; the GenAI metrics go to the same endpoint's
``/v1/metrics``; and what is still queued when the process ends is sent, not lost. In a fresh
interpreter, since a tracer provider is set once per process."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from otlp_receiver import Receiver

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
from rag_core.telemetry import export, genai_metrics, tracing
export.setup("otlp", service="otlp-probe")
print(type(tracing.tracer()).__module__)
with tracing.span("probe.root", kind="server", **{"rag.probe": 7}):
    with tracing.span("probe.child", **{"rag.step": "embed"}):
        pass
genai_metrics.record(genai_metrics.Operation("chat", "openai", "probe-model"), 0.25, 12, 5)
"""  # no flush: the queue and the metrics are sent as the process exits


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.close()


def test_spans_and_genai_metrics_reach_the_otlp_endpoint_as_the_process_ends(
        receiver: Receiver) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "RAG_"))}
    env.update(PYTHONPATH=str(ROOT), OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url,
               OTEL_EXPORTER_OTLP_TIMEOUT="10")
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "rag_core.telemetry.light"  # the service's light tracer
    spans = {s["name"]: s for s in receiver.copy()}
    assert set(spans) == {"probe.root", "probe.child"}
    root, child = spans["probe.root"], spans["probe.child"]
    assert root["parent"] is None and root["attributes"]["rag.probe"] == 7
    assert child["parent"] == root["id"] and child["trace"] == root["trace"]
    assert child["attributes"]["rag.step"] == "embed"
    assert {"gen_ai.client.operation.duration", "gen_ai.client.token.usage"} <= set(
        receiver.metrics)
