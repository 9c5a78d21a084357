"""A degraded answer through the API in process (httpx.ASGITransport, the fast lane's parts and
a model at the edge that fails): the JSON and the stream's final event carry `degraded` and
`degraded_reason`, the other answers leave them out; with `RAG_LLM_FALLBACK=none` the same
question is the documented 503. The OpenAPI schema documents the fields."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import httpx
import pytest

from rag_core.api.auth import issue_token
from rag_core.api.schemas import AnswerOut
from rag_core.app import create_app
from rag_core.config import Settings
from rag_core.llm.base import Generation, Prompt
from rag_core.llm.failures import TransientLLMError
from rag_core.llm.resilience import ResilientGenerator
from rag_core.parts import Parts

pytestmark = pytest.mark.anyio
SECRET = "degraded-api-test-secret-0b6c5d4e3f2a19080706050403020100ffeeddccbbaa"
NOTE = {"title": "Walls and Gates", "body": "Nehemiah rebuilt the wall of Jerusalem in 52 "
        "days, with a sword in one hand and a trowel in the other.", "date": "2024-05-05",
        "speaker": "Pastor Okafor"}
QUESTION = "How long did the rebuilding of the wall take?"


class Down:
    """The model at the edge, down: every call fails with a 503."""

    name = "hf"
    model = "first-model"

    def generate(self, prompt: Prompt) -> Generation:
        raise TransientLLMError("HTTP 503", status=503)

    def stream(self, prompt: Prompt) -> Iterator[str]:
        raise TransientLLMError("HTTP 503", status=503)
        yield ""  # pragma: no cover


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def client_for(parts: Parts, **changes: Any) -> httpx.AsyncClient:
    settings = parts.settings.with_overrides(jwt_secret=SECRET, similarity_threshold=0.1,
                                             llm_max_retries=0, **changes)
    generator = ResilientGenerator(Down(), settings.model_calls, None)  # type: ignore[arg-type]
    app = create_app(settings, parts=replace(parts, settings=settings, generator=generator))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(Settings(jwt_secret=SECRET), 'amara')}"}


async def test_a_degraded_answer_says_so_in_its_json_and_in_the_final_event(
        memory_parts: Parts) -> None:
    async with client_for(memory_parts) as client:
        assert (await client.put("/v1/notes/wall", json=NOTE, headers=auth())).status_code \
            in (200, 201)
        plain = await client.post("/v1/query", json={"query": QUESTION}, headers=auth())
        assert plain.status_code == 200, plain.text
        body = plain.json()
        stateless = {"conversation_id", "standalone_question", "conversation_saved"}
        assert set(body) == set(AnswerOut.model_fields) - stateless  # no conversation asked
        assert body["degraded"] is True and body["degraded_reason"].startswith("server_error: ")
        assert body["generator"] == "extractive" and body["model"] == "extractive"
        assert body["cost_usd"] == 0 and body["citations"] and "52 days" in body["answer"]
        streamed = await client.post("/v1/query", json={"query": QUESTION, "stream": True},
                                     headers=auth())
        data = streamed.text.split("event: answer\ndata: ", 1)[1].split("\n", 1)[0]
        event = AnswerOut.model_validate_json(data).model_dump(mode="json")
        assert event["degraded"] is True and event["answer"] == body["answer"]
        assert set(AnswerOut.model_validate_json(data).model_dump(exclude_unset=True)) == \
            set(body)
        nothing = await client.post("/v1/query", json={"query": "What did Castellanos say?"},
                                    headers=auth())
        assert nothing.status_code == 200 and "degraded" not in nothing.json()
        assert nothing.json()["model"] == "none"


async def test_with_fallback_none_the_question_is_the_documented_503(
        memory_parts: Parts) -> None:
    async with client_for(memory_parts, llm_fallback="none") as client:
        await client.put("/v1/notes/wall", json=NOTE, headers=auth())
        r = await client.post("/v1/query", json={"query": QUESTION}, headers=auth())
        assert r.status_code == 503 and r.json()["error"]["code"] == "LLM_UNAVAILABLE"
        assert r.headers["retry-after"]


async def test_the_openapi_schema_documents_model_and_the_degraded_fields(
        memory_parts: Parts) -> None:
    async with client_for(memory_parts, profile="dev") as client:
        schema = (await client.get("/openapi.json")).json()
    fields = schema["components"]["schemas"]["AnswerOut"]["properties"]
    assert {"model", "degraded", "degraded_reason"} <= set(fields)
    assert "RAG_LLM_FALLBACK" in fields["degraded"]["description"]
