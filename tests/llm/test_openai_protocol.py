"""The wire shapes shared by the mock LLM and the local model server."""

from __future__ import annotations

import json

import pytest

from rag_core.devservers import openai_protocol as wire


def test_parse_request_reads_what_servers_need() -> None:
    chat = wire.parse_request({"messages": [{"role": "user", "content": "hi"}],
                               "max_completion_tokens": 7, "stream": True,
                               "stream_options": {"include_usage": True}, "model": "m",
                               "temperature": 0, "response_format": {"type": "json_object"}})
    assert (chat.max_tokens, chat.stream, chat.include_usage, chat.model) == (7, True, True, "m")
    assert chat.temperature == 0.0 and chat.extra == {"response_format": {"type": "json_object"}}
    assert wire.parse_request({"messages": [{"role": "user", "content": "x"}]},
                              default_max_tokens=40).max_tokens == 40


@pytest.mark.parametrize("body", [{"nope": 1}, {"messages": []}, {"messages": [{"x": 1}]},
                                  {"messages": "text"}, ["not", "an", "object"],
                                  {"messages": [{"role": "user"}], "max_tokens": "many"}])
def test_parse_request_rejects_what_is_not_a_chat_request(body: object) -> None:
    with pytest.raises(wire.BadRequest):
        wire.parse_request(body)


def test_bodies_and_events() -> None:
    usage = wire.usage_dict(10, 3)
    assert usage == {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13}
    body = wire.completion_body("c1", "m", "hello", usage, "length")
    assert body["choices"][0] == {"index": 0, "finish_reason": "length", "logprobs": None,
                                  "message": {"role": "assistant", "content": "hello"}}
    assert "usage" not in wire.completion_body("c1", "m", "hello", None)
    event = wire.chunk_event("c1", "m", {"content": "he"})
    assert event.startswith(b"data: ") and event.endswith(b"\n\n")
    assert json.loads(event[6:])["choices"][0]["delta"] == {"content": "he"}
    last, done = list(wire.final_events("c1", "m", usage))
    assert json.loads(last[6:])["usage"] == usage and done == wire.DONE
    response = wire.error_response(503, "down", retry_after_s=1.5)
    assert response.status_code == 503 and response.headers["retry-after"] == "2"
    assert "retry-after" not in wire.error_response(400, "bad", retry_after_s=3).headers
