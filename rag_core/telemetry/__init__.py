"""Traces and metrics an operator reads in a trace viewer: the exporters (``export``), the
OpenTelemetry GenAI conventions' names and metrics (``semconv``, ``genai_metrics``), the spans of
the pipeline's steps (``steps``) and verdicts as evaluation events (``verdicts``).

``rag_core.observability`` keeps the Prometheus registry and the span helpers every module uses;
this package builds on it and is imported by the edges (the app, the CLI) and the pipeline."""
