"""What one streamed answer (``POST /v1/query`` with ``"stream": true``) looked like to its
user, read from the Server-Sent Events as they arrive; plain Python, no Locust.

``SseTimer`` is fed the raw bytes of the response with the time each piece arrived. It keeps the
arrival time of every ``delta`` event that carries text (the answer's text chunks; the HTTP
headers and the ``answer`` event are not text), the closing ``answer`` event (the JSON of a
non-streamed answer: outcome, usage) or an ``error`` event. ``figures()`` gives, per request:

- ``ttft_ms``: from sending the request to the first text chunk (not the headers);
- ``itl_ms``: the gaps between consecutive text chunks (inter-token latency as the user sees
  it: one chunk may hold several tokens, see the output guard's hold-back);
- ``out_tokens``: the answer's output tokens (its ``usage``);
- ``tokens_per_s``: output tokens over the time from sending to the last text chunk
  (end-to-end output rate of the request).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from loadtests.traffic import Outcome, classify

STREAM_KIND = "stream"


@dataclass
class SseTimer:
    """``feed(data, at)`` the body's bytes as they arrive (``at``: seconds, the same clock as
    ``started``); complete events are parsed at once."""

    started: float
    text_at: list[float] = field(default_factory=list)  # arrival of each text chunk
    answer: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    _buffer: str = ""

    def feed(self, data: bytes | str, at: float) -> None:
        self._buffer += data.decode("utf-8", "replace") if isinstance(data, bytes) else data
        self._buffer = self._buffer.replace("\r\n", "\n")
        while "\n\n" in self._buffer:
            block, self._buffer = self._buffer.split("\n\n", 1)
            self._event(block, at)

    def _event(self, block: str, at: float) -> None:
        kind, data = "message", []
        for line in block.split("\n"):
            if line.startswith("event:"):
                kind = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].lstrip())
        try:
            body = json.loads("\n".join(data)) if data else {}
        except ValueError:
            return  # not an event of ours
        if not isinstance(body, dict):
            return
        if kind == "delta" and body.get("text"):
            self.text_at.append(at)
        elif kind == "answer":
            self.answer = body
        elif kind == "error":
            self.error = body

    def outcome(self, status: int, headers: Mapping[str, str]) -> Outcome:
        """The request's outcome: the closing answer classified like a JSON answer; an error
        event after text was sent is a failure of its own."""
        if self.error is not None:
            return Outcome("error", failure=f"stream broke: {self.error.get('code', '?')}")
        if self.answer is None:
            return Outcome("error", failure="stream ended without an answer event")
        return classify(status, headers, self.answer)

    def figures(self) -> dict[str, Any]:
        usage = (self.answer or {}).get("usage") or {}
        tokens = int(usage.get("output_tokens") or 0)
        out: dict[str, Any] = {"ttft_ms": None, "itl_ms": [], "chunks": len(self.text_at),
                               "out_tokens": tokens, "tokens_per_s": None}
        if not self.text_at:
            return out
        out["ttft_ms"] = round(1000 * (self.text_at[0] - self.started), 2)
        gaps = zip(self.text_at, self.text_at[1:], strict=False)
        out["itl_ms"] = [round(1000 * (b - a), 2) for a, b in gaps]
        span = self.text_at[-1] - self.started
        if tokens and span > 0:
            out["tokens_per_s"] = round(tokens / span, 3)
        return out


def stream_fields(timer: SseTimer) -> dict[str, Any]:
    """The streamed figures for the per-request event line (``traffic.event_line(extra=)``);
    NaN never reaches JSON."""
    figures = timer.figures()
    return {"stream": True, **{k: (None if isinstance(v, float) and math.isnan(v) else v)
                                for k, v in figures.items()}}
