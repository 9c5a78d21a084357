"""The OpenAI chat-completions wire shapes that rag_core's own servers speak.

One owner for the JSON of ``/v1/chat/completions`` (plain and streamed as server-sent events),
``/v1/models`` and error bodies, shared by the mock LLM (``mock_app``) and the local model
server (``local_server``), so that both look the same to a client such as
``huggingface_hub.InferenceClient``.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field

from fastapi.responses import JSONResponse, StreamingResponse

from rag_core.types import JsonObject

ChatMessage = Mapping[str, object]  # one message of a request, as the client sent it
SSE_HEADERS = {"Cache-Control": "no-cache"}


class BadRequest(ValueError):
    """The request body is not a chat-completion request."""


@dataclass(frozen=True)
class CompletionRequest:
    """What a server needs from a chat-completion request body."""

    messages: list[dict[str, object]]
    max_tokens: int
    stream: bool = False
    include_usage: bool = False
    model: str | None = None
    temperature: float | None = None
    extra: JsonObject = field(default_factory=dict)


def parse_request(body: object, default_max_tokens: int = 400) -> CompletionRequest:
    """A :class:`CompletionRequest` from a decoded JSON body; :class:`BadRequest` if it is not
    one."""
    if not isinstance(body, dict):
        raise BadRequest("the body must be JSON with a list of messages")
    try:
        messages = [dict(m) for m in body["messages"]]
        if not messages or any("role" not in m for m in messages):
            raise BadRequest("every message needs a role")
        max_tokens = int(body.get("max_tokens") or body.get("max_completion_tokens")
                         or default_max_tokens)
        temperature = body.get("temperature")
        options = body.get("stream_options") or {}
        known = {"messages", "max_tokens", "max_completion_tokens", "stream", "stream_options",
                 "model", "temperature"}
        return CompletionRequest(
            messages=messages, max_tokens=max(1, max_tokens), stream=bool(body.get("stream")),
            include_usage=bool(options.get("include_usage")),
            model=str(body["model"]) if body.get("model") else None,
            temperature=None if temperature is None else float(temperature),
            extra={k: v for k, v in body.items() if k not in known},
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise BadRequest("the body must be JSON with a list of messages") from exc


def new_completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex[:16]}"


def usage_dict(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


def completion_body(cid: str, model: str, text: str, usage: dict[str, int] | None,
                    finish_reason: str = "stop") -> JsonObject:
    """A non-streamed ``chat.completion``."""
    return {"id": cid, "object": "chat.completion", "created": int(time.time()), "model": model,
            **({"usage": usage} if usage is not None else {}),
            "choices": [{"index": 0, "finish_reason": finish_reason, "logprobs": None,
                         "message": {"role": "assistant", "content": text}}]}


def chunk_event(cid: str, model: str, delta: JsonObject, finish: str | None = None,
                **extra: object) -> bytes:
    """One server-sent event with a ``chat.completion.chunk``."""
    data = {"id": cid, "object": "chat.completion.chunk", "created": int(time.time()),
            "model": model, "choices": [{"index": 0, "delta": delta, "logprobs": None,
                                         "finish_reason": finish}], **extra}
    return f"data: {json.dumps(data)}\n\n".encode()


def error_event(message: str, kind: str = "overloaded") -> bytes:
    """An error in the middle of a stream (the shape TGI sends)."""
    return f"data: {json.dumps({'error': message, 'error_type': kind})}\n\n".encode()


DONE = b"data: [DONE]\n\n"


def role_event(cid: str, model: str) -> bytes:
    return chunk_event(cid, model, {"role": "assistant", "content": ""})


def final_events(cid: str, model: str, usage: dict[str, int] | None,
                 finish_reason: str = "stop") -> Iterable[bytes]:
    """The last chunk (finish reason, usage if any) and ``[DONE]``."""
    yield chunk_event(cid, model, {}, finish_reason, **({"usage": usage} if usage else {}))
    yield DONE


def sse_response(events: AsyncIterator[bytes]) -> StreamingResponse:
    return StreamingResponse(events, media_type="text/event-stream", headers=SSE_HEADERS)


def error_response(status: int, message: str, kind: str = "server_error",
                   retry_after_s: float | None = None) -> JSONResponse:
    """An OpenAI-style error body; 429 and 503 carry Retry-After when one is given."""
    headers = {"Retry-After": str(math.ceil(retry_after_s))} \
        if status in (429, 503) and retry_after_s is not None else {}
    return JSONResponse({"error": {"message": message, "type": kind}}, status_code=status,
                        headers=headers)


def models_body(model_id: str) -> JsonObject:
    return {"object": "list", "data": [{"id": model_id, "object": "model", "created": 0,
                                        "owned_by": "rag_core"}]}
