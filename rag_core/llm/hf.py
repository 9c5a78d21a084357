"""The ``hf`` generator: chat completion through ``huggingface_hub.InferenceClient``.

With ``Settings.llm_base_url`` it talks to any OpenAI-compatible server (TGI, vLLM, llama.cpp,
or the repo's mock); without, to Hugging Face inference with ``HF_TOKEN`` and ``llm_model``.

Transport, as huggingface_hub 1.x/2.x does it: every InferenceClient sends through ONE shared
``httpx2.Client`` per process (``huggingface_hub.get_session()``), so connections are reused
whatever the number of InferenceClient objects. Two details needed care:

* Timeouts. ``InferenceClient(timeout=...)`` is documented as one float, and it is passed
  unchanged as ``timeout=`` of every request, where ``None`` means *no timeout at all* (the
  session's own default is overridden). We pass an ``httpx2.Timeout`` with
  ``llm_connect_timeout_s`` for connecting and ``llm_read_timeout_s`` for reading (and writing
  and waiting for a pooled connection), which httpx accepts there; a streamed answer gets the
  read timeout between two pieces, not for the whole answer.
* Offline mode. The project sets ``HF_HUB_OFFLINE=1`` so that nothing is downloaded from the
  hub, and the default session then refuses every request, even to a server on the local
  network. ``_install_session`` installs a session whose request hook applies huggingface_hub's
  own checks (offline refusal, request ids) to hub hosts only.

Streaming: ``InferenceClient`` keeps each streamed response in the client's ``ExitStack`` until
the client is closed. A shared client would therefore keep every stream (and, for a stream the
caller abandoned, its connection) forever, so each stream gets a throw-away InferenceClient,
closed when the stream ends or is abandoned; the connection pool is still the shared one.
"""

from __future__ import annotations

import email.utils
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

from rag_core.config import Settings
from rag_core.llm.base import Generation, Prompt
from rag_core.llm.failures import PermanentLLMError, TransientLLMError
from rag_core.tokens import default_counter
from rag_core.types import TokenUsage

_HUB_HOSTS = ("huggingface.co", "hf.co")
_lock = threading.Lock()
_session_installed = False
_clients: dict[tuple[Any, ...], Any] = {}


def _install_session() -> None:
    """One shared httpx2 client for huggingface_hub; hub checks only for hub hosts."""
    global _session_installed
    with _lock:
        if _session_installed:
            return
        import httpx2
        from huggingface_hub import set_client_factory
        from huggingface_hub.utils._http import hf_request_event_hook

        def hook(request: Any) -> None:
            host = request.url.host or ""
            if host.endswith(_HUB_HOSTS):
                hf_request_event_hook(request)

        def factory() -> Any:
            return httpx2.Client(
                event_hooks={"request": [hook]},
                follow_redirects=True,
                limits=httpx2.Limits(max_connections=100, max_keepalive_connections=20),
            )

        set_client_factory(factory)
        _session_installed = True


def _timeout(settings: Settings) -> Any:
    import httpx2

    return httpx2.Timeout(settings.llm_read_timeout_s, connect=settings.llm_connect_timeout_s)


def _new_client(settings: Settings) -> Any:
    from huggingface_hub import InferenceClient

    token = settings.hf_token.get_secret_value() if settings.hf_token else None
    if settings.llm_base_url:
        return InferenceClient(base_url=settings.llm_base_url, token=token,
                               timeout=_timeout(settings))
    return InferenceClient(model=settings.llm_model, token=token, timeout=_timeout(settings))


def shared_client(settings: Settings) -> Any:
    """The process's InferenceClient for these settings (non-streaming calls)."""
    _install_session()
    key = (settings.llm_base_url, settings.llm_model, settings.hf_token,
           settings.llm_connect_timeout_s, settings.llm_read_timeout_s)
    with _lock:
        client = _clients.get(key)
        if client is None:
            client = _clients[key] = _new_client(settings)
        return client


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a Retry-After header: a number of seconds or an HTTP date (counted from
    ``now``, epoch seconds; the wall clock by default)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def classify(exc: BaseException) -> TransientLLMError | PermanentLLMError:
    """Map an exception of the client to transient (retry, counts for the breaker) or
    permanent (no retry, does not count)."""
    import httpx2
    from huggingface_hub.errors import (
        HfHubHTTPError,
        OfflineModeIsEnabled,
        OverloadedError,
        TextGenerationError,
        ValidationError,
    )

    response = getattr(exc, "response", None)
    if isinstance(exc, HfHubHTTPError) and response is not None:
        status = int(response.status_code)
        if status in (408, 429) or (status >= 500 and status != 501):
            return TransientLLMError(f"HTTP {status}", status=status,
                                     retry_after=parse_retry_after(
                                         response.headers.get("retry-after")))
        return PermanentLLMError(f"HTTP {status}", status=status)
    if isinstance(exc, OfflineModeIsEnabled):
        return PermanentLLMError(str(exc))
    if isinstance(exc, TimeoutError | httpx2.TimeoutException):
        return TransientLLMError(f"timeout: {type(exc).__name__}")
    if isinstance(exc, ValidationError):
        return PermanentLLMError(f"rejected by the server: {exc}")
    if isinstance(exc, OverloadedError | TextGenerationError):
        return TransientLLMError(f"{type(exc).__name__}: {exc}")
    if isinstance(exc, httpx2.TransportError | ConnectionError):
        return TransientLLMError(f"connection: {type(exc).__name__}: {exc}")
    if isinstance(exc, json.JSONDecodeError | KeyError | IndexError | AttributeError | TypeError):
        return PermanentLLMError(f"malformed answer: {type(exc).__name__}")
    if isinstance(exc, OSError):
        return TransientLLMError(f"{type(exc).__name__}: {exc}")
    return PermanentLLMError(f"{type(exc).__name__}: {exc}")


class HFGenerator:
    """Chat completion with ``huggingface_hub.InferenceClient`` (see the module docstring)."""

    name = "hf"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.client = shared_client(settings)
        self.model = settings.llm_model

    def _kwargs(self, prompt: Prompt) -> dict[str, Any]:
        # With a base URL the model id goes in the payload (vLLM and TGI check it).
        return {"max_tokens": prompt.max_tokens, "temperature": self.settings.llm_temperature,
                "model": self.model if self.settings.llm_base_url else None}

    def generate(self, prompt: Prompt) -> Generation:
        try:
            out = self.client.chat_completion(prompt.messages, stream=False, **self._kwargs(prompt))
            text = out.choices[0].message.content or ""
        except Exception as exc:
            raise classify(exc) from exc
        return Generation(text=text, usage=self._usage(prompt, text, getattr(out, "usage", None)),
                          model=str(getattr(out, "model", None) or self.model))

    def stream(self, prompt: Prompt) -> Iterator[str]:
        client = _new_client(self.settings)
        try:
            for chunk in client.chat_completion(prompt.messages, stream=True,
                                                **self._kwargs(prompt)):
                choices = getattr(chunk, "choices", None) or []
                delta = choices[0].delta.content if choices else None
                if delta:
                    yield delta
        except GeneratorExit:
            raise
        except Exception as exc:
            raise classify(exc) from exc
        finally:
            client.close()

    @staticmethod
    def _usage(prompt: Prompt, text: str, usage: Any) -> TokenUsage:
        """The server's token counts; our tokenizer's when it sends none."""
        if usage is not None and getattr(usage, "prompt_tokens", None) is not None:
            return TokenUsage(int(usage.prompt_tokens), int(usage.completion_tokens or 0))
        counter = default_counter()
        return TokenUsage(sum(counter.count(m["content"]) for m in prompt.messages),
                          counter.count(text))
