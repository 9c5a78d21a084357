"""Model routing over real HTTP: two mock LLM servers (the main model, and a cheaper one that
cites fewer notes), the chain ``rag_core.parts.build_generator`` builds from ``RAG_LLM_ROUTE``
and ``RAG_LLM_CHEAP_*``, and the pipeline on the fast lane's store. A short question with a
small context is answered and billed by the cheap model, one with a long context by the main
one, each naming its model and its route; the cheap model failing falls back to the main one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from llm_helpers import configure, stats
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from rag_core.answer import Answer
from rag_core.config import Settings
from rag_core.costs import reporting
from rag_core.devservers.mock_server import MockLLM, start_outage
from rag_core.ingest.ingestion import ingest_notes
from rag_core.llm.failover import Failover
from rag_core.parts import Parts, build_generator, variant
from rag_core.pipeline import Pipeline
from rag_core.redis_kv.keys import answer_shape
from rag_core.telemetry import tracing
from rag_core.types import Note

pytestmark = pytest.mark.integration
SHORT = Note(id="wall", title="Walls and Gates", speaker="Pastor Okafor", date="2024-05-05",
             body="Nehemiah rebuilt the wall of Jerusalem in 52 days, with a sword in one hand "
                  "and a trowel in the other.")
QUESTION = "How long did Nehemiah take to rebuild the wall?"
# a library whose notes all speak of the wall: the same question packs a long context
LONG = [Note(id=f"wall-{n}", title=f"The Wall, part {n}", speaker="Pastor Okafor",
             date=f"2024-06-0{n}",
             body=(f"Part {n}: Nehemiah rebuilt the wall of Jerusalem with the families of the "
                   "city, each family rebuilding the stretch of the wall in front of its own "
                   "house, gate by gate, while the builders kept watch day and night. ") * 3)
        for n in range(1, 6)]
MAIN_PRICES = (0.00001, 0.00003)
CHEAP_PRICES = (0.000001, 0.000002)
MAX_CONTEXT = 200  # tokens: one short note passes, five long ones do not


@pytest.fixture
def cheap_llm() -> Iterator[str]:
    """A second mock LLM server: the cheap model (the main one is ``mock_llm``)."""
    with MockLLM() as (url, _app):
        yield url


def routed(settings: Settings, main: str, cheap: str) -> Settings:
    configure(main, strict_model=True, model="main-model")
    configure(cheap, strict_model=True, model="cheap-model", cite_notes=1)
    return settings.with_overrides(
        llm="hf", llm_base_url=f"{main}/v1", llm_model="main-model", llm_route="on",
        llm_cheap_base_url=f"{cheap}/v1", llm_cheap_model="cheap-model",
        llm_route_max_context_tokens=MAX_CONTEXT, llm_max_retries=0, breaker_fail_max=2,
        breaker_reset_timeout_s=600.0, semantic_mode="off",
        price_input_per_token_usd=MAIN_PRICES[0], price_output_per_token_usd=MAIN_PRICES[1],
        price_cheap_input_per_token_usd=CHEAP_PRICES[0],
        price_cheap_output_per_token_usd=CHEAP_PRICES[1])


def pipeline(parts: Parts, settings: Settings) -> Pipeline:
    ingest_notes(parts, "amara", [SHORT], progress=False)
    ingest_notes(parts, "bola", LONG, progress=False)
    return Pipeline(variant(parts, settings=settings,
                            generator=build_generator(settings, None)))  # type: ignore[arg-type]


def billed(answer: Answer, prices: tuple[float, float]) -> float:
    return answer.usage.input_tokens * prices[0] + answer.usage.output_tokens * prices[1]


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    """The service's spans, kept in memory."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(tracing, "_tracer", provider.get_tracer("rag_core"))
    yield exporter
    provider.shutdown()


def test_a_small_context_goes_to_the_cheap_model_a_long_one_to_the_main(
        memory_parts: Parts, mock_llm: str, cheap_llm: str,
        spans: InMemorySpanExporter) -> None:
    settings = routed(memory_parts.settings, mock_llm, cheap_llm)
    pipe = pipeline(memory_parts, settings)
    assert isinstance(pipe.parts.generator, Failover)
    short = pipe.ask("amara", QUESTION)
    assert short.model == "cheap-model" and not short.no_context and short.citations
    assert short.cost_usd == pytest.approx(billed(short, CHEAP_PRICES)) and short.cost_usd > 0
    route = short.decisions.route
    assert route is not None and (route.route, route.model, route.reason) == \
        ("cheap", "cheap-model", "easy")
    assert route.checks["kind"].passed and route.checks["context_tokens"].passed
    assert stats(cheap_llm)["completed"] == 1 and stats(mock_llm)["requests"] == 0

    long = pipe.ask("bola", QUESTION)
    assert long.model == "main-model" and not long.no_context
    assert long.cost_usd == pytest.approx(billed(long, MAIN_PRICES)) and long.cost_usd > 0
    route = long.decisions.route
    assert route is not None and (route.route, route.model, route.reason) == \
        ("main", "main-model", "context_tokens")
    assert not route.checks["context_tokens"].passed
    assert stats(cheap_llm)["requests"] == 1 and stats(mock_llm)["completed"] == 1
    # the cheap model cites one note; the main one every note it was given
    assert len(short.citations) == 1 and len(long.citations) > 1
    assert reporting.spend(memory_parts.ledger, "amara") == pytest.approx(short.cost_usd)
    assert short.to_dict()["decisions"]["route"]["route"] == "cheap"
    # the trace: each generate span names its provider and model, its chat span the model
    generated = [dict(s.attributes or {}) for s in spans.get_finished_spans()
                 if s.name == "assistant.generate"]
    assert [(a["llm.provider"], a["llm.model"]) for a in generated] == \
        [("llm_cheap", "cheap-model"), ("llm", "main-model")]
    chats = [dict(s.attributes or {}) for s in spans.get_finished_spans()
             if s.name.startswith("chat ")]
    assert [a["gen_ai.request.model"] for a in chats] == ["cheap-model", "main-model"]


def test_the_cheap_model_failing_falls_back_to_the_main_one(
        memory_parts: Parts, mock_llm: str, cheap_llm: str) -> None:
    settings = routed(memory_parts.settings, mock_llm, cheap_llm)
    pipe = pipeline(memory_parts, settings)
    start_outage(cheap_llm, 600)
    answer = pipe.ask("amara", QUESTION)
    assert answer.model == "main-model" and not answer.degraded
    assert answer.cost_usd == pytest.approx(billed(answer, MAIN_PRICES))
    route = answer.decisions.route
    assert route is not None and route.route == "cheap" and route.fell_back
    assert stats(cheap_llm)["outage_errors"] == 1 and stats(mock_llm)["completed"] == 1
    # the cheap model's reservation was released: only the main model's answer is spent
    assert reporting.spend(memory_parts.ledger, "amara") == pytest.approx(answer.cost_usd)
    # streamed: the same chain
    streamed = list(pipe.stream("amara", f"{QUESTION} (streamed)"))
    assert streamed[-1]["type"] == "answer" and streamed[-1]["model"] == "main-model"


def test_routing_off_asks_the_main_model_and_the_route_names_the_key(
        memory_parts: Parts, mock_llm: str, cheap_llm: str) -> None:
    on = routed(memory_parts.settings, mock_llm, cheap_llm)
    off = on.with_overrides(llm_route="off")
    pipe = pipeline(memory_parts, off)
    answer = pipe.ask("amara", QUESTION)
    assert answer.model == "main-model" and answer.decisions.route is None
    assert stats(cheap_llm)["requests"] == 0
    assert answer_shape(on) != answer_shape(off)
    assert answer_shape(on) != answer_shape(on.with_overrides(llm_route_max_context_tokens=50))
    # the cheap server and its prices never change a key (as the main model's do not)
    assert answer_shape(on) == answer_shape(on.with_overrides(
        price_cheap_input_per_token_usd=0.5, llm_cheap_base_url="http://elsewhere:1/v1"))
