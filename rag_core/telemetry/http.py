"""The HTTP server span of a request: the root of its trace (or the child of the caller's
``traceparent``), current while the app answers, so that the pipeline's ``assistant.query`` and
every step under it land in the same trace. Named ``{method} {route}`` once the route is known
(the route's template, never the path with its ids), kind SERVER, with the HTTP conventions'
attributes. A streamed answer keeps it open until its last event is sent. The probes and the
scrape (``/healthz``, ``/readyz``, ``/metrics``) make no trace: every few seconds, they would
bury the questions in the viewer."""

from __future__ import annotations

from typing import Any

from rag_core import observability as obs
from rag_core.telemetry import semconv as sc

UNTRACED = frozenset({"/healthz", "/readyz", "/metrics"})


class ServerSpan:
    def __init__(self, method: str, path: str, scheme: str) -> None:
        from opentelemetry import context, trace

        self.method = method
        self.traced = path not in UNTRACED
        if not self.traced:
            return
        self.span = obs.start_span(method or "HTTP", None, kind="server", **{
            "http.request.method": method, "url.path": path, "url.scheme": scheme})
        self._token = context.attach(trace.set_span_in_context(self.span))

    def end(self, route: str | None, status: int) -> None:
        from opentelemetry import context

        if not self.traced:
            return
        context.detach(self._token)
        if route:
            self.span.update_name(f"{self.method} {route}")
            self.span.set_attribute("http.route", route)
        self.span.set_attribute("http.response.status_code", status or 500)
        if not status or status >= 500:
            sc.mark_error(self.span, str(status or 500))
        self.span.end()


def start(scope: Any) -> ServerSpan:
    return ServerSpan(str(scope.get("method", "")), str(scope.get("path", "")),
                      str(scope.get("scheme", "http")))
