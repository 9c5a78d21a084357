"""What the service tells its operators, in one package: every Prometheus series
(``metrics``, registered there and nowhere else), the JSON log lines (``logs``), the span helpers
every step uses (``tracing``), the HTTP server span (``http``, FastAPI's own), the exporters
(``export``), the OpenTelemetry GenAI conventions' names and metrics (``semconv``,
``genai_metrics``), the spans of the pipeline's steps (``steps``) and verdicts as evaluation
events (``verdicts``)."""
