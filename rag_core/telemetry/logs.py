"""JSON log lines with secrets masked, the request's id and user hash that every line (and
span) carries, and the hash that stands for an id or a question in them."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import sys
from contextvars import ContextVar

from rag_core.config import Settings

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
user_hash_var: ContextVar[str | None] = ContextVar("user_hash", default=None)


def hash_id(value: object) -> str:
    """A short stable hash for span attributes and logs (never the raw id or query).

    Any text hashes, including text that is not valid Unicode (a lone surrogate from JSON such
    as ``"\\ud800"``): it is hashed before validation has refused it, and must not raise."""
    text = value if isinstance(value, str) else repr(value)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def trace_ids() -> tuple[str | None, str | None]:
    """The current trace and span id (hex), or None outside a recorded span."""
    from opentelemetry import trace

    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None, None
    return f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}"


_SECRET_PATTERNS = [
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9\-_.=]+"), r"\1***"),
    (re.compile(r"eyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*"), "***jwt***"),
    (re.compile(r"\bhf_[A-Za-z0-9]{6,}"), "hf_***"),
    (re.compile(r"(?i)((?:api[_-]?key|token|secret|password)\s*[=:]\s*)\S+"), r"\1***"),
    (re.compile(r"(://[^:/@\s]+:)[^@\s]+@"), r"\1***@"),
]


def mask_secrets(text: str) -> str:
    for pattern, repl in _SECRET_PATTERNS:
        text = pattern.sub(repl, text)
    return text


_SECRET_KEY = re.compile(r"(?i)authorization|token|secret|password|passwd|api[_-]?key|cookie")


def _mask_field(key: str, value: object) -> object:
    """A log field with secrets masked: by its name, in strings, and inside dicts and lists."""
    if _SECRET_KEY.search(key) and isinstance(value, str | bytes) and value:
        return "***"
    if isinstance(value, str):
        return mask_secrets(value)
    if isinstance(value, dict):
        return {k: _mask_field(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_mask_field(key, v) for v in value]
    return value


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, object] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "message": mask_secrets(record.getMessage()),
            "request_id": request_id_var.get(),
        }
        trace_id, span_id = trace_ids()
        if trace_id:
            data["trace_id"], data["span_id"] = trace_id, span_id
        if user_hash_var.get():
            data["user_hash"] = user_hash_var.get()
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict):
            data.update({k: _mask_field(k, v) for k, v in extra.items()})
        if record.exc_info:
            data["exc"] = mask_secrets(self.formatException(record.exc_info))
        return json.dumps(data, default=str)


def setup_logging(settings: Settings) -> None:
    root = logging.getLogger("rag_core")
    if any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    root.setLevel(settings.observability.log_level.upper())
    root.propagate = False


def log_event(logger: logging.Logger, level: int, message: str, **fields: object) -> None:
    logger.log(level, message, extra={"fields": fields})
