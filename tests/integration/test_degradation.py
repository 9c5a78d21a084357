"""A failing dependency degrades the service; it does not corrupt it or answer a bare error."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from rag_core.devservers.mock_server import MockLLM
from rag_core.errors import LLMUnavailable
from rag_core.pipeline import Pipeline
from rag_core.redis_kv.keys import user_prefix

pytestmark = pytest.mark.integration
GOLDEN = Path(__file__).resolve().parents[2] / "golden"


def test_stale_answer_while_llm_is_down(live_settings) -> None:
    from rag_core.ingest.ingestion import ingest_path
    from rag_core.parts import build_parts

    with MockLLM() as (url, _):
        settings = live_settings.with_overrides(llm="hf", llm_base_url=f"{url}/v1",
                                                llm_max_retries=0, breaker_fail_max=2)
        parts = build_parts(settings)
        pipe = Pipeline(parts)
        ingest_path(parts, "amara", GOLDEN / "notes" / "amara", progress=False)
        question = "Who rebuilt the wall of Jerusalem?"
        fresh = pipe.ask("amara", question)
        assert fresh.generator == "hf" and fresh.cost_usd > 0 and not fresh.stale
        parts.caches.query.clear(user_prefix("query", None))  # the L1 entry expired
        parts.caches.semantic.clear()
        httpx.post(f"{url}/admin/outage", json={"seconds": 60})
        stale = pipe.ask("amara", question)
        assert stale.stale and stale.answer == fresh.answer and stale.cost_usd == 0
        # never asked before: answered from the notes without the model (RAG_LLM_FALLBACK)
        novel = "What did the prophet Nehemiah pray about?"
        made = pipe.ask("amara", novel)
        assert made.degraded and made.generator == "extractive" and made.cost_usd == 0
        assert made.citations and made.degraded_reason.startswith("server_error: ")
        refusing = Pipeline(replace(parts, settings=settings.with_overrides(
            llm_fallback="none")))
        with pytest.raises(LLMUnavailable) as info:
            refusing.ask("amara", novel)
        assert info.value.retry_after is not None and info.value.status == 503
        parts.close()
