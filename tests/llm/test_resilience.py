"""Chaos against the real mock LLM over HTTP and the real Redis."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx
import pytest
import redis

from rag_core.config import Settings
from rag_core.errors import LLMUnavailable
from rag_core.llm.base import Prompt
from rag_core.llm.hf import HFGenerator
from rag_core.llm.mock_server import MockLLM
from rag_core.llm.prompt import build_prompt
from rag_core.llm.resilience import ResilientGenerator
from rag_core.types import Chunk

pytestmark = pytest.mark.integration


def prompt() -> Prompt:
    chunk = Chunk(chunk_id="n1:0:x", note_id="n1", user_id="u", ordinal=0,
                  text="Faith moves your feet. It is trust in action.",
                  metadata={"title": "Faith", "speaker": "Pastor A"})
    return build_prompt("What is faith?", [chunk], 64)


def requests_seen(url: str) -> int:
    return int(httpx.get(f"{url}/admin/stats").json()["requests"])


def make(url: str, redis_url: str | None, **changes: object) -> ResilientGenerator:
    fields: dict[str, object] = {"llm_max_retries": 0, "breaker_fail_max": 3,
                                 "breaker_reset_timeout_s": 1.0, **changes}
    settings = Settings(profile="ci", llm="hf", llm_base_url=f"{url}/v1", **fields)
    client = redis.Redis.from_url(redis_url) if redis_url else None
    return ResilientGenerator(HFGenerator(settings), settings, client)


def test_hf_generator_over_http_with_usage_and_stream() -> None:
    with MockLLM() as (url, _):
        gen = make(url, None)
        out = gen.generate(prompt())
        assert "[1]" in out.text and out.usage.input_tokens > 0 and out.usage.output_tokens > 0
        pieces = list(gen.stream(prompt()))
        assert len(pieces) > 1 and "".join(pieces) == out.text
        assert httpx.get(f"{url}/admin/stats").json()["streams"] == 1


def test_outage_opens_after_fail_max_then_probe_closes(redis_url: str) -> None:
    with MockLLM() as (url, _):
        gen = make(url, redis_url)
        httpx.post(f"{url}/admin/outage", json={"seconds": 1.5})
        for _ in range(3):
            with pytest.raises(LLMUnavailable):
                gen.generate(prompt())
        assert gen.state == "open" and requests_seen(url) == 3
        start = time.perf_counter()
        with pytest.raises(LLMUnavailable) as info:
            gen.generate(prompt())
        assert time.perf_counter() - start < 0.1  # no wait on the dead LLM
        assert info.value.retry_after and info.value.retry_after >= 1
        assert requests_seen(url) == 3  # the open breaker did not call it
        time.sleep(2.2)  # outage over and reset timeout passed: one probe goes through
        assert "[1]" in gen.generate(prompt()).text
        assert gen.state == "closed" and requests_seen(url) == 4


def test_two_processes_share_breaker_state(redis_url: str) -> None:
    with MockLLM() as (url, _):
        gen = make(url, redis_url, breaker_reset_timeout_s=30.0)
        httpx.post(f"{url}/admin/config", json={"error_rate": 1.0, "error_status": 500})
        for _ in range(3):
            with pytest.raises(LLMUnavailable):
                gen.generate(prompt())
        assert gen.state == "open"
        script = (
            "import redis, sys\n"
            "from rag_core.config import Settings\n"
            "from rag_core.llm.hf import HFGenerator\n"
            "from rag_core.llm.resilience import ResilientGenerator\n"
            f"s = Settings(profile='ci', llm='hf', llm_base_url='{url}/v1', llm_max_retries=0,"
            " breaker_fail_max=3, breaker_reset_timeout_s=30.0)\n"
            f"g = ResilientGenerator(HFGenerator(s), s, redis.Redis.from_url('{redis_url}'))\n"
            "print(g.state)\n"
        )
        out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                             timeout=60)
        assert out.stdout.strip().splitlines()[-1] == "open", out.stderr
        assert requests_seen(url) == 3


def test_retries_transient_but_not_4xx() -> None:
    with MockLLM() as (url, _):
        gen = make(url, None, llm_max_retries=2, llm_backoff_base_s=0.01)
        httpx.post(f"{url}/admin/config", json={"error_rate": 1.0, "error_status": 400})
        with pytest.raises(LLMUnavailable):
            gen.generate(prompt())
        assert requests_seen(url) == 1  # a 400 is not retried
        assert gen.state == "closed"  # and is not an outage
        httpx.post(f"{url}/admin/reset")
        httpx.post(f"{url}/admin/config", json={"error_rate": 1.0, "error_status": 503,
                                                 "retry_after_s": 0})
        with pytest.raises(LLMUnavailable):
            gen.generate(prompt())
        assert requests_seen(url) == 3  # one try and two retries


def test_redis_down_breaker_still_works_in_process(redis_factory) -> None:
    server = redis_factory()
    url_r = server.url
    server.stop()
    with MockLLM() as (url, _):
        gen = make(url, url_r)
        assert "[1]" in gen.generate(prompt()).text
