"""The service's JSON log lines on their own (no app, no database): secrets masked in messages,
fields and tracebacks, the handler installed once, the trace and a user hash on each line.
(The request id of the app's lines: tests/app/test_tracing.py.)"""

from __future__ import annotations

import io
import json
import logging
import sys

import pytest

from rag_core.config import Settings
from rag_core.telemetry import logs
from tests.json_log import log_lines

SECRETS = {
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbWFyYSJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ",
    "hf": "hf_AbCdEfGhIjKlMnOpQrStUv",
    "password": "s3cr3t-pa55",
    "apikey": "sk-live-0123456789",
}


def test_secrets_are_masked_in_message_fields_and_tracebacks(json_log: io.StringIO) -> None:
    log = logging.getLogger("rag_core.test")
    token = logs.request_id_var.set("mask-rid")
    try:
        logs.log_event(log, logging.WARNING,
                       f"calling with Authorization: Bearer {SECRETS['jwt']} and {SECRETS['hf']}",
                       url=f"postgresql://app:{SECRETS['password']}@db:5432/rag",
                       detail=f"api_key={SECRETS['apikey']}",
                       nested={"headers": {"authorization": f"Bearer {SECRETS['jwt']}"},
                               "args": [f"token: {SECRETS['hf']}"]},
                       token=SECRETS["apikey"])
        try:
            raise RuntimeError(f"upstream refused hf token {SECRETS['hf']}")
        except RuntimeError:
            log.exception("failed with password=%s", SECRETS["password"])
    finally:
        logs.request_id_var.reset(token)
    text = json_log.getvalue()
    for name, secret in SECRETS.items():
        assert secret not in text, name
    first, second = log_lines(json_log)
    assert first["request_id"] == second["request_id"] == "mask-rid"
    assert first["url"] == "postgresql://app:***@db:5432/rag"
    assert "RuntimeError" in second["exc"]


def test_setup_logging_writes_json_once(monkeypatch: pytest.MonkeyPatch) -> None:
    app_settings = Settings(profile="ci")
    root = logging.getLogger("rag_core")
    before, propagate, level = list(root.handlers), root.propagate, root.level
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    try:
        for handler in before:
            root.removeHandler(handler)
        logs.setup_logging(app_settings)
        logs.setup_logging(app_settings)
        assert sum(isinstance(h.formatter, logs.JsonFormatter) for h in root.handlers) == 1
        logs.log_event(logging.getLogger("rag_core.x"), logging.INFO, "hello", n=1)
        line = json.loads(stream.getvalue().splitlines()[-1])
        assert line["message"] == "hello" and line["n"] == 1 and line["level"] == "INFO"
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in before:
            root.addHandler(handler)
        root.propagate, root.level = propagate, level


def test_log_lines_carry_the_trace_and_a_user_hash() -> None:
    import json
    import logging

    from opentelemetry.sdk.trace import TracerProvider

    tracer = TracerProvider().get_tracer("t")
    record = logging.LogRecord("rag_core.x", logging.INFO, __file__, 1, "hello", None, None)
    token = logs.user_hash_var.set(logs.hash_id("amara"))
    try:
        with tracer.start_as_current_span("s") as span:
            line = json.loads(logs.JsonFormatter().format(record))
    finally:
        logs.user_hash_var.reset(token)
    assert line["trace_id"] == f"{span.get_span_context().trace_id:032x}"
    assert line["user_hash"] == logs.hash_id("amara") and "amara" not in line.values()
