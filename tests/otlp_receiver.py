"""An OTLP/HTTP endpoint on loopback for the tests (a real HTTP server that decodes the protobuf
``ExportTraceServiceRequest``, as a collector does) that keeps every span it is sent, and the
names of the metrics posted to its ``/v1/metrics``."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest


class Receiver:
    """An OTLP/HTTP traces endpoint on loopback that keeps every span it is sent."""

    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []
        self.metrics: list[str] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the http.server API)
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.path.endswith("/v1/metrics"):
                    metrics = ExportMetricsServiceRequest()
                    metrics.ParseFromString(body)
                    receiver.keep_metrics(metrics)
                else:
                    request = ExportTraceServiceRequest()
                    request.ParseFromString(body)
                    receiver.keep(request)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def keep(self, request: ExportTraceServiceRequest) -> None:
        with self.lock:
            for resource in request.resource_spans:
                for scoped in resource.scope_spans:
                    for span in scoped.spans:
                        attributes = {a.key: a.value.string_value or a.value.int_value
                                      for a in span.attributes}
                        self.spans.append({
                            "trace": span.trace_id.hex(), "id": span.span_id.hex(),
                            "parent": span.parent_span_id.hex() or None, "name": span.name,
                            "kind": span.kind, "scope": scoped.scope.name,
                            "attributes": attributes})

    def keep_metrics(self, request: ExportMetricsServiceRequest) -> None:
        with self.lock:
            self.metrics.extend(metric.name for resource in request.resource_metrics
                                for scoped in resource.scope_metrics for metric in scoped.metrics)

    def copy(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.spans)

    def close(self) -> None:
        self.server.shutdown()
