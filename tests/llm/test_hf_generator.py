"""The hf generator (huggingface_hub.InferenceClient) against the mock LLM over real HTTP."""

from __future__ import annotations

import email.utils
import socket
from collections.abc import Callable

import pytest
from llm_helpers import configure, stats

from rag_core.config import Settings
from rag_core.llm.hf import HFGenerator, hf_generator, make_client, parse_retry_after
from rag_core.llm.prompt import build_prompt
from rag_core.llm.resilience import PermanentLLMError, TransientLLMError
from rag_core.tokens import default_counter
from rag_core.types import Chunk

pytestmark = pytest.mark.integration
MakeSettings = Callable[..., Settings]


def test_generate_with_the_servers_usage(mock_llm: str, chunks: list[Chunk],
                                         hf_settings: MakeSettings) -> None:
    gen = hf_generator(hf_settings(mock_llm))
    prompt = build_prompt("What did they do?", chunks, 200)
    out = gen.generate(prompt)
    assert out.text.startswith("According to your notes:") and "[1]" in out.text
    counter = default_counter()
    assert out.usage.input_tokens == sum(counter.count(m["content"]) for m in prompt.messages)
    assert out.usage.output_tokens == counter.count(out.text)
    assert out.model == "meta-llama/Llama-3.2-3B-Instruct"  # the payload carried the model id
    assert stats(mock_llm)["completed"] == 1


def test_usage_counted_locally_when_the_server_sends_none(
        mock_llm: str, chunks: list[Chunk], hf_settings: MakeSettings) -> None:
    configure(mock_llm, send_usage=False)
    prompt = build_prompt("What did they do?", chunks, 200)
    out = hf_generator(hf_settings(mock_llm)).generate(prompt)
    counter = default_counter()
    assert out.usage.output_tokens == counter.count(out.text) > 0
    assert out.usage.input_tokens == sum(counter.count(m["content"]) for m in prompt.messages)


def test_stream_yields_deltas_that_join_to_the_answer(
        mock_llm: str, chunks: list[Chunk], hf_settings: MakeSettings) -> None:
    gen = hf_generator(hf_settings(mock_llm))
    prompt = build_prompt("What did they do?", chunks, 200)
    pieces = list(gen.stream(prompt))
    assert len(pieces) > 5 and "".join(pieces) == gen.generate(prompt).text
    assert stats(mock_llm)["streams"] == 1


def test_abandoned_stream_is_closed(mock_llm: str, chunks: list[Chunk],
                                    hf_settings: MakeSettings) -> None:
    configure(mock_llm, tokens_per_s=50)
    gen = hf_generator(hf_settings(mock_llm))
    prompt = build_prompt("Q?", chunks, 200)
    stream = gen.stream(prompt)
    assert next(stream)
    stream.close()  # the caller went away: the HTTP response must not stay open
    # A second stream of the same answer at the same pace, read to its end. The mock runs one
    # event loop: had the first response stayed open, its pieces (each due earlier than the
    # second's) would all have been sent and counted first. No wall-clock window involved.
    assert "".join(gen.stream(prompt))
    assert stats(mock_llm)["streams"] == 2 and stats(mock_llm)["completed"] == 1


def test_the_client_is_passed_in_and_carries_every_call(
        mock_llm: str, chunks: list[Chunk], hf_settings: MakeSettings) -> None:
    """The edge builds one client and hands it in; generations and streams both go to the
    endpoint that client names, whatever the generator's own settings say."""
    client = make_client(hf_settings(mock_llm).model_calls)
    elsewhere = hf_settings("http://127.0.0.1:9")  # a port nothing listens on
    gen = hf_generator(elsewhere, client)
    assert gen.client is client
    prompt = build_prompt("What did they do?", chunks, 200)
    assert gen.generate(prompt).text and "".join(gen.stream(prompt))
    assert stats(mock_llm)["completed"] == 2 and stats(mock_llm)["streams"] == 1


def test_generators_share_no_client_unless_one_is_passed(
        mock_llm: str, hf_settings: MakeSettings) -> None:
    from rag_core.llm import build_generator
    from rag_core.parts import build_generator as build_at_the_edge

    settings = hf_settings(mock_llm)
    assert hf_generator(settings).client is not hf_generator(settings).client  # no process cache
    client = make_client(settings.model_calls)
    assert build_generator(settings, llm_client=client).inner.client is client
    edge = build_at_the_edge(settings, None).inner  # type: ignore[attr-defined]
    assert isinstance(edge, HFGenerator) and edge.client.model == f"{mock_llm}/v1"


@pytest.mark.parametrize("status,kind", [(500, TransientLLMError), (503, TransientLLMError),
                                         (429, TransientLLMError), (400, PermanentLLMError),
                                         (404, PermanentLLMError)])
def test_http_errors_are_classified(mock_llm: str, chunks: list[Chunk], hf_settings: MakeSettings,
                                    status: int, kind: type[Exception]) -> None:
    configure(mock_llm, error_rate=1.0, error_status=status, retry_after_s=3)
    gen = hf_generator(hf_settings(mock_llm))
    prompt = build_prompt("Q?", chunks, 100)
    for call in (gen.generate, lambda p: list(gen.stream(p))):
        with pytest.raises(kind) as info:
            call(prompt)
        assert info.value.status == status
        if status == 429:
            assert isinstance(info.value, TransientLLMError) and info.value.retry_after == 3


def test_read_timeout_is_transient(mock_llm: str, chunks: list[Chunk],
                                   hf_settings: MakeSettings) -> None:
    # The mock hangs for 10 minutes, or until the client goes, and then answers normally: a
    # timeout error (not an answer) means the client gave up after its own read timeout.
    configure(mock_llm, timeout_rate=1.0, hang_s=600)
    gen = hf_generator(hf_settings(mock_llm, llm_read_timeout_s=0.4))
    with pytest.raises(TransientLLMError, match="timeout"):
        gen.generate(build_prompt("Q?", chunks, 100))
    assert stats(mock_llm)["timeouts"] == 1


def test_stream_error_midway_is_transient(mock_llm: str, chunks: list[Chunk],
                                          hf_settings: MakeSettings) -> None:
    configure(mock_llm, stream_error_after=3)
    pieces: list[str] = []
    with pytest.raises(TransientLLMError):
        for piece in hf_generator(hf_settings(mock_llm)).stream(build_prompt("Q?", chunks, 100)):
            pieces.append(piece)
    assert len(pieces) == 3


def test_connection_refused_is_transient(chunks: list[Chunk], hf_settings: MakeSettings) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    gen = hf_generator(hf_settings(f"http://127.0.0.1:{port}"))
    with pytest.raises(TransientLLMError, match="connection"):
        gen.generate(build_prompt("Q?", chunks, 100))


def test_parse_retry_after() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    now = 1_800_000_000.0  # an HTTP date 30 s after a fixed "now"
    later = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after(later, now=now) == 30.0
    assert parse_retry_after(email.utils.formatdate(now - 5, usegmt=True), now=now) == 0.0
    assert parse_retry_after(later) is not None  # the wall clock by default
