"""Fixtures of the generation tests: sample chunks, the mock LLM over real HTTP, settings."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from llm_helpers import make_chunk

from rag_core.config import Settings
from rag_core.devservers.mock_server import MockLLM
from rag_core.types import Chunk


@pytest.fixture
def chunks() -> list[Chunk]:
    return [
        make_chunk(1, "Abraham was seventy-five years old when he left Haran. God told him to go "
                      "to a land he would be shown later, without naming it. Faith usually gets "
                      "a flashlight, not a floodlight.", title="Faith That Walks"),
        make_chunk(2, "Mama Ngozi put twelve mango seedlings in the ground at seventy-nine. The "
                      "trees first bore fruit in 2009, four years after she died.",
                   title="Planting for Others", date="2024-03-17"),
        make_chunk(3, "Noah kept building for years under a clear sky. People stared at him and "
                      "laughed, but he kept going.", title="Faith Moves", speaker="Rev. Daniel "
                      "Brannigan", series="Stories", scripture=["Genesis 6:9-22"]),
    ]


@pytest.fixture
def mock_llm() -> Iterator[str]:
    """The mock LLM server on a free loopback port; yields its base URL (without /v1)."""
    with MockLLM() as (url, _app):
        yield url


@pytest.fixture
def hf_settings(settings: Settings) -> Callable[..., Settings]:
    """Settings for the hf generator pointed at a mock URL, no retries unless asked. The reset
    timeout is long: breaker tests move a clock past it (tests/fakes.ManualClock)."""

    def make(url: str, **changes: Any) -> Settings:
        fields: dict[str, Any] = {"llm": "hf", "llm_base_url": f"{url}/v1", "llm_max_retries": 0,
                                  "llm_read_timeout_s": 5.0, "breaker_fail_max": 3,
                                  "breaker_reset_timeout_s": 30.0, **changes}
        return settings.with_overrides(**fields)

    return make
