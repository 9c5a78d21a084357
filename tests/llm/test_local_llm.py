"""``rag-core local-llm`` (SmolLM2-135M-Instruct on CPU) over real HTTP: the ``hf`` generator
streaming and not, token counts of the model's own tokenizer, and the ragas judge.

Slow: one server per test session (``local_llm``), small ``max_tokens``. The converted model
is kept in the project's ``.rag_state`` (as the harness keeps it), so only the first session
on a machine pays the conversion (about a minute).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pandas as pd
import pytest

from evals.paths import STATE_DIR
from rag_core.config import Settings
from rag_core.devservers.local_model import MODEL_ID, cache_dir, gguf_path
from rag_core.errors import LocalModelMissing
from rag_core.llm.prompt import build_prompt
from rag_core.types import Chunk

pytestmark = [pytest.mark.slow, pytest.mark.integration]


@pytest.fixture(scope="session")
def local_llm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The local model server, started once per session; yields its base URL (no /v1)."""
    from rag_core.devservers.local_server import start_local_llm

    try:
        gguf_path()
    except LocalModelMissing as exc:  # make setup installs it; a bare venv may not have it
        pytest.skip(str(exc))
    log = tmp_path_factory.mktemp("local-llm") / "server.log"
    # int8 for speed: these tests check the protocol, the counts and the judge's path, not
    # the answers (the harness runs the float32 default)
    with start_local_llm(STATE_DIR, log, threads=1, quantize="int8") as url:
        yield url


@pytest.fixture(scope="session")
def tokenizer(local_llm: str) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(cache_dir(STATE_DIR)))


@pytest.fixture
def local_settings(settings: Settings, local_llm: str) -> Settings:
    return settings.with_overrides(llm="hf", llm_base_url=f"{local_llm}/v1", llm_model=MODEL_ID,
                                   llm_read_timeout_s=600.0, llm_max_retries=0,
                                   llm_temperature=0.0)


def prompt_tokens(tokenizer: Any, messages: list[dict[str, str]]) -> int:
    return len(tokenizer.apply_chat_template(messages, add_generation_prompt=True,
                                             return_dict=True)["input_ids"])


def test_hf_generator_gets_the_models_answer_and_token_counts(
        local_settings: Settings, chunks: list[Chunk], tokenizer: Any) -> None:
    from rag_core.llm.hf import hf_generator

    generator = hf_generator(local_settings)
    prompt = build_prompt("How old was Abraham when he left Haran?", chunks[:1], 12)
    out = generator.generate(prompt)
    assert out.text.strip()
    assert out.model == MODEL_ID  # the server names the model that answered
    assert out.usage.input_tokens == prompt_tokens(tokenizer, prompt.messages)
    assert 0 < out.usage.output_tokens <= 12
    assert out.usage.output_tokens == len(tokenizer(out.text, add_special_tokens=False)
                                          ["input_ids"])
    # greedy decoding: the stream says the same, piece by piece
    pieces = list(generator.stream(prompt))
    assert len(pieces) > 1 and "".join(pieces) == out.text


def test_stream_over_http_ends_with_usage(local_llm: str, chunks: list[Chunk],
                                          tokenizer: Any) -> None:
    prompt = build_prompt("Who planted mango seedlings?", chunks[1:2], 8)
    body = {"model": MODEL_ID, "messages": prompt.messages, "max_tokens": 8, "stream": True,
            "stream_options": {"include_usage": True}}
    events = []
    with httpx.stream("POST", f"{local_llm}/v1/chat/completions", json=body,
                      timeout=600) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("data: "):
                events.append(line.removeprefix("data: "))
    assert events[-1] == "[DONE]"
    chunks_ = [json.loads(e) for e in events[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks_)
    last = chunks_[-1]
    assert last["choices"][0]["finish_reason"] in ("stop", "length")
    assert last["usage"]["prompt_tokens"] == prompt_tokens(tokenizer, prompt.messages)
    # the tokens generated, at most max_tokens; the streamed text encoded again may take a
    # token more or less (decoding then encoding can merge or split at a boundary)
    completion = last["usage"]["completion_tokens"]
    assert 0 < completion <= 8
    assert abs(completion - len(tokenizer(text, add_special_tokens=False)["input_ids"])) <= 1


def test_bad_requests_get_a_400_with_a_message(local_llm: str) -> None:
    response = httpx.post(f"{local_llm}/v1/chat/completions", json={"nope": 1}, timeout=30)
    assert response.status_code == 400
    assert "messages" in response.json()["error"]["message"]
    assert httpx.get(f"{local_llm}/v1/models", timeout=30).json()["data"][0]["id"] == MODEL_ID


def test_the_ragas_judge_runs_against_the_local_server(local_llm: str) -> None:
    """The judge's whole path (ragas, instructor, the OpenAI client, our server) works; a
    135M judge's scores are not quality figures, so only their range is checked."""
    from evals.metrics.llm_judge import JudgeConfig, judge
    from rag_core.embedding import SentenceTransformerEmbedder

    before = httpx.get(f"{local_llm}/admin/stats", timeout=30).json()["requests"]
    rows = pd.DataFrame([{"question": "How old was Abraham when he left Haran?",
                          "answer": "He was seventy-five [1].", "no_context": False}])
    config = JudgeConfig(model=MODEL_ID, base_url=f"{local_llm}/v1", api_key="unused",
                         max_tokens=48)
    embedder = SentenceTransformerEmbedder(Settings().embedding.embedding_model, 384)
    outcome = judge(rows, embedder, config,
                    contexts=[["Abraham was seventy-five years old when he left Haran."]],
                    relevancy_questions=1)
    assert outcome.status == "ran" and outcome.note() == f"ran with judge model {MODEL_ID}"
    assert list(outcome.scores.columns) == ["faithfulness", "answer_relevancy"]
    for value in outcome.scores.iloc[0]:
        assert value is None or pd.isna(value) or 0.0 <= float(value) <= 1.0
    assert httpx.get(f"{local_llm}/admin/stats", timeout=30).json()["requests"] > before
    # the judge closed its client on its own loop: one left open is closed later by the
    # garbage collector on whatever loop runs then, failing an unrelated async test
    import gc

    from openai import AsyncOpenAI

    left_open = [o for o in gc.get_objects() if type(o) is AsyncOpenAI and not o.is_closed()]
    assert left_open == []
