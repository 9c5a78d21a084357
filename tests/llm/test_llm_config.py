"""The real model path: offline mode never refuses the LLM; misconfiguration is one coded error,
logged once, counted, remembered for ``/readyz``, and re-verified without a call per probe."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import httpx2
import huggingface_hub
import pytest
from huggingface_hub import constants as hub_constants
from huggingface_hub import get_session
from huggingface_hub.errors import OfflineModeIsEnabled
from llm_helpers import configure, stats
from pydantic import ValidationError

from rag_core.config import Settings, fixed
from rag_core.errors import LLMMisconfigured
from rag_core.llm import build_generator, hf
from rag_core.llm.health import LLMHealth, Problem
from rag_core.llm.hf import hf_generator
from rag_core.llm.prompt import build_prompt
from rag_core.telemetry import metrics
from rag_core.types import Chunk

pytestmark = pytest.mark.integration
MakeSettings = Callable[..., Settings]


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """HF_HUB_OFFLINE=1 as an operator might set it (huggingface_hub reads it at import)."""
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)


@pytest.fixture
def transport() -> Iterator[list[httpx2.Request]]:
    """huggingface_hub's shared session with a recording transport in place of the network
    (there is no internet here): the request got past every check and reached httpx."""
    seen: list[httpx2.Request] = []

    def handle(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return httpx2.Response(200, json={
            "id": "x", "object": "chat.completion", "created": 0, "model": "router-model",
            "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": "Hello there."}}]})

    hf._install_session()
    huggingface_hub.set_client_factory(lambda: hf.make_session(httpx2.MockTransport(handle)))
    try:
        yield seen
    finally:
        huggingface_hub.set_client_factory(hf.make_session)


def _misconfigured(reason: str) -> float:
    return metrics.REGISTRY.get_sample_value("llm_misconfigured_total", {"reason": reason}) or 0.0


def test_router_without_base_url_is_not_refused_by_offline_mode(
        offline: None, transport: list[httpx2.Request], settings: Settings,
        chunks: list[Chunk]) -> None:
    assert huggingface_hub.constants.HF_HUB_OFFLINE  # offline mode is on for this test
    s = settings.with_overrides(llm="hf", hf_token="hf_test_token_123", llm_max_retries=0)
    assert s.model_calls.llm_base_url is None
    out = hf_generator(s).generate(build_prompt("What did they do?", chunks, 50))
    assert out.text == "Hello there."
    # the fake server's usage (3 prompt tokens for a prompt of hundreds) fails the checks and
    # the service's own count is billed instead (``llm.usage``, issue 84)
    assert out.usage_source == "counted" and out.usage.input_tokens > 3
    (request,) = transport
    assert str(request.url) == "https://router.huggingface.co/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer hf_test_token_123"
    assert json.loads(request.content)["model"] == "meta-llama/Llama-3.2-3B-Instruct"


def test_offline_mode_still_refuses_hub_downloads(offline: None, settings: Settings) -> None:
    hf_generator(settings.with_overrides(llm="hf", hf_token="hf_x"))  # registers the router
    assert not hf.hub_checks_apply("router.huggingface.co")
    assert hf.hub_checks_apply("huggingface.co") and hf.hub_checks_apply("cdn-lfs.hf.co")
    with pytest.raises(OfflineModeIsEnabled):
        get_session().get("https://huggingface.co/api/models/x")


def test_the_router_url_points_the_no_base_url_path_at_a_server(
        offline: None, mock_llm: str, settings: Settings, chunks: list[Chunk],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fixed, "LLM_ROUTER_URL", f"{mock_llm}/v1")
    s = settings.with_overrides(llm="hf", hf_token="hf_x", llm_max_retries=0)
    gen = build_generator(s)
    assert gen.generate(build_prompt("What did they do?", chunks, 100)).text
    assert stats(mock_llm)["completed"] == 1 and gen.check_config() == {"ok": True}


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def llm_log() -> Iterator[_Lines]:
    handler = _Lines()
    logger = logging.getLogger("rag_core.llm")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


@pytest.mark.parametrize("fault,reason", [({"api_key": "the-right-one"}, "unauthorized"),
                                          ({"strict_model": True}, "not_found")])
def test_misconfiguration_is_coded_logged_once_counted_and_not_a_breaker_failure(
        mock_llm: str, hf_settings: MakeSettings, chunks: list[Chunk], llm_log: _Lines,
        fault: dict[str, Any], reason: str) -> None:
    configure(mock_llm, **fault)
    gen = build_generator(hf_settings(mock_llm, hf_token="hf_wrong", breaker_fail_max=2,
                                      llm_max_retries=2))
    before = _misconfigured(reason)
    for _ in range(3):
        with pytest.raises(LLMMisconfigured) as info:
            gen.generate(build_prompt("Q?", chunks, 50))
        assert info.value.code == "LLM_MISCONFIGURED" and info.value.status == 503
    assert _misconfigured(reason) - before == 3
    assert llm_log.messages.count("the language model is misconfigured") == 1
    assert stats(mock_llm)["requests"] == 3  # never retried
    assert gen.state == "closed"  # not the LLM's health: the breaker does not count it
    check = gen.check_config()
    assert check["ok"] is False and check["code"] == "LLM_MISCONFIGURED"
    assert check["reason"] == reason and "HTTP" in check["message"]


def test_startup_probe_finds_a_refused_token_without_generating(
        mock_llm: str, hf_settings: MakeSettings) -> None:
    configure(mock_llm, api_key="right")
    wrong = build_generator(hf_settings(mock_llm, hf_token="hf_wrong"))
    assert wrong.startup_check() == Problem("unauthorized", hf._status_message(401))
    assert wrong.check_config()["reason"] == "unauthorized"
    right = build_generator(hf_settings(mock_llm, hf_token="right"))
    assert right.startup_check() is None and right.check_config() == {"ok": True}
    counts = stats(mock_llm)
    assert counts["model_listings"] == 2 and counts["requests"] == 0  # nothing generated


def test_startup_probe_needs_a_token_for_the_router(settings: Settings) -> None:
    gen = build_generator(settings.with_overrides(llm="hf"))
    problem = gen.startup_check()
    assert problem is not None and problem.reason == "no_token"
    assert build_generator(settings).check_config() == {"ok": True}  # extractive: no probe


def test_startup_probe_says_nothing_about_an_unreachable_server(
        hf_settings: MakeSettings) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    gen = build_generator(hf_settings(f"http://127.0.0.1:{port}"))
    assert gen.startup_check() is None and gen.check_config() == {"ok": True}


def test_unusable_urls_are_refused_by_settings(settings: Settings) -> None:
    for name in ("llm_base_url", "jwt_jwks_url"):
        with pytest.raises(ValidationError, match=f"{name} must be an http"):
            settings.with_overrides(**{name: "ftp://models.example/v1"})


def test_a_remembered_problem_is_rechecked_once_per_period_and_clears(
        mock_llm: str, hf_settings: MakeSettings, chunks: list[Chunk]) -> None:
    configure(mock_llm, api_key="right")
    gen = build_generator(hf_settings(mock_llm, hf_token="right", llm_recheck_s=60))
    now = [1000.0]
    gen.health = LLMHealth("hf", 60, verify=gen._verify, clock=lambda: now[0], background=False)
    configure(mock_llm, api_key="rotated")  # the token was revoked on the server side
    with pytest.raises(LLMMisconfigured):
        gen.generate(build_prompt("Q?", chunks, 50))
    assert stats(mock_llm)["requests"] == 1
    for _ in range(5):  # probes within the period: no call at all
        assert gen.check_config()["ok"] is False
    now[0] += 61
    assert gen.check_config()["ok"] is False  # the recheck ran: still refused
    assert stats(mock_llm)["requests"] == 2 and gen.check_config()["rechecks"] == 1
    configure(mock_llm, api_key="right")  # fixed on the server side
    now[0] += 30
    assert gen.check_config()["ok"] is False and stats(mock_llm)["requests"] == 2
    now[0] += 31
    gen.check_config()  # runs the recheck (synchronously here), which clears the problem
    assert gen.check_config() == {"ok": True} and stats(mock_llm)["requests"] == 3


def test_a_success_clears_the_problem(mock_llm: str, hf_settings: MakeSettings,
                                      chunks: list[Chunk]) -> None:
    configure(mock_llm, strict_model=True)
    bad = hf_settings(mock_llm, llm_model="no-such-model")
    gen = build_generator(bad)
    with pytest.raises(LLMMisconfigured):
        gen.generate(build_prompt("Q?", chunks, 50))
    assert gen.check_config()["reason"] == "not_found"
    configure(mock_llm, strict_model=False)
    gen.generate(build_prompt("Q?", chunks, 50))
    assert gen.check_config() == {"ok": True}
