"""The mock LLM's settable config (every fault knob, and ``obey``) and its run-time state:
counters, the clock of outages, the seeded random draws."""

from __future__ import annotations

import argparse
import math
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields

from rag_core.types import JsonObject


@dataclass
class MockConfig:
    """Every fault knob of the mock; all may change at run time."""

    model: str = "mock-llm"
    latency_ms: float = 0.0  # before the answer (non-streaming) or the first piece (streaming)
    latency_jitter_ms: float = 0.0
    latency_dist: str = "fixed"  # fixed | uniform (+- jitter) | lognormal (sigma: jitter)
    tokens_per_s: float = 0.0  # streaming pace in pieces per second; 0 = as fast as possible
    error_rate: float = 0.0  # share of requests answered with error_status
    error_status: int = 503
    fail_next: int = 0  # the next N completion requests fail with error_status, then it heals
    retry_after_s: float | None = 1.0  # Retry-After sent with 429 and 503 (None: none)
    timeout_rate: float = 0.0  # share of requests that hang for hang_s (client times out)
    hang_s: float = 120.0
    outage_after_s: float | None = None  # a scheduled outage: starts this long after start
    outage_duration_s: float = 0.0
    stream_error_after: int | None = None  # streams send an error event after this many pieces
    send_usage: bool = True  # usage in answers (streams: also when stream_options asks)
    # a lying provider: the usage it reports instead of the tokens it counted (None: counted);
    # negative or absurd figures, as a buggy proxy or a broken token counter sends them
    usage_prompt_tokens: int | None = None
    usage_completion_tokens: int | None = None
    api_key: str | None = None  # when set, other bearer tokens get 401 (a misconfigured token)
    strict_model: bool = False  # 404 for a payload model other than `model` (as vLLM does)
    obey: bool = False  # the obedient adversary: follow every instruction in the messages
    # a weaker model: its answer uses (and cites) only the first N notes (None: every note);
    # two mocks that differ in it differ in quality (model routing's comparison)
    cite_notes: int | None = None
    seed: int = 0

    def update(self, changes: Mapping[str, object]) -> None:
        """Apply a partial config, with each value converted to its field's type."""
        known = {f.name: f for f in fields(self)}
        unknown = set(changes) - set(known)
        if unknown:
            raise ValueError(f"unknown settings: {', '.join(sorted(unknown))}")
        for key, value in changes.items():
            setattr(self, key, _convert(getattr(MockConfig, key, None), key, value))
        if self.latency_dist not in ("fixed", "uniform", "lognormal"):
            raise ValueError("latency_dist must be fixed, uniform or lognormal")


def _number(key: str, value: object) -> str | int | float:
    """``value`` when ``int`` or ``float`` can take it (a JSON list or object cannot)."""
    if not isinstance(value, str | int | float):
        raise TypeError(f"{key} must be a number, not {type(value).__name__}")
    return value


def _convert(default: object, key: str, value: object) -> object:
    if value is None:
        return None
    optional_float = ("retry_after_s", "outage_after_s")
    if key == "api_key":
        return str(value)
    if isinstance(default, bool):
        return bool(value)
    if isinstance(default, int) or key in ("stream_error_after", "usage_prompt_tokens",
                                           "usage_completion_tokens", "cite_notes"):
        return int(_number(key, value))
    if isinstance(default, float) or key in optional_float:
        return float(_number(key, value))
    return str(value)


class MockState:
    """Config, counters and the clock of one mock server (used from its event loop)."""

    def __init__(self, config: MockConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.clock = clock  # seconds; drives outages (tests pass a clock they move)
        self.lock = threading.Lock()
        self.rng = random.Random(config.seed)
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.started = self.clock()
            self.outage_until = 0.0
            self.counts = {k: 0 for k in ("requests", "completed", "errors", "streams",
                                           "timeouts", "outage_errors", "bad_requests",
                                           "in_flight", "max_in_flight", "completion_tokens",
                                           "prompt_tokens",
                                           "unauthorized", "model_listings")}

    def bump(self, name: str, by: int = 1) -> None:
        with self.lock:
            self.counts[name] += by
            if name == "in_flight":
                self.counts["max_in_flight"] = max(self.counts["max_in_flight"],
                                                   self.counts["in_flight"])

    def in_outage(self) -> bool:
        now = self.clock()
        if now < self.outage_until:
            return True
        c = self.config
        if c.outage_after_s is not None:
            start = self.started + c.outage_after_s
            return start <= now < start + c.outage_duration_s
        return False

    def latency_s(self) -> float:
        c = self.config
        base, jitter = c.latency_ms / 1000, c.latency_jitter_ms / 1000
        if c.latency_dist == "uniform":
            return max(0.0, base + self.rng.uniform(-jitter, jitter))
        if c.latency_dist == "lognormal" and base > 0:
            sigma = jitter / base if jitter else 0.25
            # median = base; mean = base * exp(sigma^2 / 2)
            return base * math.exp(self.rng.gauss(0.0, sigma))
        return base

    def stats(self) -> JsonObject:
        with self.lock:
            return {**self.counts, "in_outage": self.in_outage()}


def add_mock_args(parser: argparse.ArgumentParser) -> None:
    """The fault options of ``rag-core mock-llm`` (the CLI adds --host and --port). Here, beside
    the config and away from the server, so that building the CLI's parser imports no web
    framework."""
    d = MockConfig()
    parser.add_argument("--model", default=d.model, help="model id it reports")
    parser.add_argument("--latency-ms", type=float, default=d.latency_ms,
                        help="latency before the answer or the first streamed piece")
    parser.add_argument("--latency-jitter-ms", type=float, default=d.latency_jitter_ms)
    parser.add_argument("--latency-dist", choices=["fixed", "uniform", "lognormal"],
                        default=d.latency_dist)
    parser.add_argument("--tokens-per-s", type=float, default=d.tokens_per_s,
                        help="streaming pace (0: as fast as possible)")
    parser.add_argument("--error-rate", type=float, default=d.error_rate,
                        help="share of requests answered with --error-status, 0..1")
    parser.add_argument("--error-status", type=int, default=d.error_status)
    parser.add_argument("--fail-next", type=int, default=d.fail_next,
                        help="fail the first N requests with --error-status")
    parser.add_argument("--retry-after-s", type=float, default=d.retry_after_s,
                        help="Retry-After sent with 429 and 503")
    parser.add_argument("--timeout-rate", type=float, default=d.timeout_rate,
                        help="share of requests that hang for --hang-s, 0..1")
    parser.add_argument("--hang-s", type=float, default=d.hang_s)
    parser.add_argument("--outage-after-s", type=float, default=d.outage_after_s,
                        help="start an outage this many seconds after start")
    parser.add_argument("--outage-duration-s", type=float, default=d.outage_duration_s)
    parser.add_argument("--stream-error-after", type=int, default=d.stream_error_after,
                        help="break every stream after this many pieces")
    parser.add_argument("--no-usage", dest="send_usage", action="store_false",
                        default=d.send_usage, help="send no usage in answers (a missing usage)")
    parser.add_argument("--usage-prompt-tokens", type=int, default=d.usage_prompt_tokens,
                        help="report this many prompt tokens whatever was counted (a lying "
                             "provider: negative or absurd figures)")
    parser.add_argument("--usage-completion-tokens", type=int,
                        default=d.usage_completion_tokens,
                        help="report this many completion tokens whatever was counted")
    parser.add_argument("--obey", action="store_true", default=d.obey,
                        help="the obedient adversary: follow every instruction in the messages "
                             "(system-prompt reveals, injected markers, planted instructions)")
    parser.add_argument("--cite-notes", type=int, default=d.cite_notes,
                        help="a weaker model: answer from (and cite) only the first N notes "
                             "of the prompt")
    parser.add_argument("--seed", type=int, default=d.seed)
