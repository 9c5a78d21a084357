"""The ``hf`` generator: chat completion through ``huggingface_hub.InferenceClient``.

With ``Settings.llm_base_url`` it talks to any OpenAI-compatible server (TGI, vLLM, llama.cpp,
or the repo's mock); without, to the Hugging Face inference router (``fixed.LLM_ROUTER_URL``, itself
OpenAI-compatible: ``/v1/chat/completions`` with the model id in the payload, the provider chosen
server-side) with ``HF_TOKEN`` and ``llm_model``. Both go the same way: no provider-mapping
lookup on the hub before the call.

The client is passed in, as httpx's transports are: ``HFGenerator(generation, calls, client)``
with an ``InferenceClient`` that the edge built once (``rag_core.parts.build_generator`` with
:func:`make_client`); without one, the generator builds its own from its sections. Nothing is
cached per process here.

Transport, as huggingface_hub 1.x/2.x does it: every InferenceClient sends through ONE shared
``httpx2.Client`` per process (``huggingface_hub.get_session()``), so connections are reused
whatever the number of InferenceClient objects. Two details needed care:

* Timeouts. ``InferenceClient(timeout=...)`` is documented as one float, and it is passed
  unchanged as ``timeout=`` of every request, where ``None`` means *no timeout at all* (the
  session's own default is overridden). We pass an ``httpx2.Timeout`` with
  ``llm_connect_timeout_s`` for connecting and ``llm_read_timeout_s`` for reading (and writing
  and waiting for a pooled connection), which httpx accepts there; a streamed answer gets the
  read timeout between two pieces, not for the whole answer.
* Offline mode. ``HF_HUB_OFFLINE=1`` (which an operator may still set, to forbid downloads)
  makes huggingface_hub's default session refuse every request, including the inference router
  (``router.huggingface.co`` is a hub host) and servers on the local network. Offline mode is
  about downloads, never about the LLM: ``_install_session`` installs a session whose request
  hook applies the hub's own checks (offline refusal, request ids) to hub hosts only, and never
  to the hosts of the configured LLM endpoints (``_llm_hosts``).
* Misconfiguration. 401, 403 and 404 answers, and a URL the client cannot use, are
  :class:`MisconfiguredLLMError`: permanent, and remembered by the generator's health
  (``rag_core.llm.health``) so that ``/readyz`` shows them. :meth:`HFGenerator.probe` is the
  cheap check at startup (``GET <base>/models``, no generation).

Streaming: ``InferenceClient`` keeps each streamed response in the client's ``ExitStack`` until
the client is closed. A shared client would therefore keep every stream (and, for a stream the
caller abandoned, its connection) forever, so each stream gets a throw-away InferenceClient,
closed when the stream ends or is abandoned, made with the passed client's endpoint, token,
timeout and headers; the connection pool is still the shared one.
"""

from __future__ import annotations

import email.utils
import json
import threading
import time
import urllib.parse
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from rag_core import config
from rag_core.config import ModelCalls, Settings, fixed
from rag_core.llm import usage as usage_check
from rag_core.llm.base import Generation, Prompt
from rag_core.llm.breaker_state import GAUGE_NAME
from rag_core.llm.failures import MisconfiguredLLMError, PermanentLLMError, TransientLLMError
from rag_core.llm.health import Problem
from rag_core.telemetry import tracing
from rag_core.tokens import default_counter
from rag_core.types import TokenUsage

if TYPE_CHECKING:
    from huggingface_hub import InferenceClient

_HUB_HOSTS = ("huggingface.co", "hf.co")
_MISCONFIGURED = {401: "unauthorized", 403: "forbidden", 404: "not_found"}
_lock = threading.Lock()
_session_installed = False
_llm_hosts: set[str] = set()  # hosts of configured LLM endpoints: never the hub's offline check


def endpoint(calls: ModelCalls) -> str:
    """The OpenAI-compatible base URL the generator talks to."""
    return (calls.llm_base_url or fixed.LLM_ROUTER_URL).rstrip("/")


def _register_llm_host(calls: ModelCalls) -> None:
    host = urllib.parse.urlsplit(endpoint(calls)).hostname
    if host:
        _llm_hosts.add(host.lower())  # set.add is atomic


def hub_checks_apply(host: str) -> bool:
    """Whether huggingface_hub's request checks (offline refusal included) apply to a host:
    hub hosts only, and never the host of a configured LLM endpoint."""
    host = host.lower()
    return host.endswith(_HUB_HOSTS) and host not in _llm_hosts


def _hook(request: Any) -> None:
    from huggingface_hub.utils._http import hf_request_event_hook

    if hub_checks_apply(request.url.host or ""):
        hf_request_event_hook(request)
    else:
        tracing.inject_trace(request.headers)  # the LLM server continues the request's trace


def make_session(transport: Any = None) -> Any:
    """The httpx2 client that huggingface_hub shares (``transport``: tests hand in their own)."""
    import httpx2

    return httpx2.Client(event_hooks={"request": [_hook]}, follow_redirects=True,
                         transport=transport,
                         limits=httpx2.Limits(max_connections=100, max_keepalive_connections=20))


def _install_session() -> None:
    """One shared httpx2 client for huggingface_hub; hub checks only for hub hosts."""
    global _session_installed
    with _lock:
        if _session_installed:
            return
        from huggingface_hub import set_client_factory

        set_client_factory(make_session)
        _session_installed = True


def _timeout(calls: ModelCalls) -> Any:
    import httpx2

    return httpx2.Timeout(calls.llm_read_timeout_s, connect=fixed.LLM_CONNECT_TIMEOUT_S)


def _token(calls: ModelCalls) -> str | None:
    return calls.hf_token.get_secret_value() if calls.hf_token else None


def make_client(calls: ModelCalls) -> InferenceClient:
    """An InferenceClient for the endpoint, token and timeouts of ``calls`` (the edge builds
    one and passes it to :class:`HFGenerator`); its host is exempt from the hub's offline check."""
    from huggingface_hub import InferenceClient

    _install_session()
    _register_llm_host(calls)
    return InferenceClient(base_url=endpoint(calls), token=_token(calls),
                           timeout=_timeout(calls))


def _stream_client(client: InferenceClient) -> InferenceClient:
    """A throw-away client for one stream, configured as ``client`` (see the module docstring)."""
    from huggingface_hub import InferenceClient

    return InferenceClient(base_url=client.model, token=client.token, timeout=client.timeout,
                           headers=client.headers)


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
        if status in _MISCONFIGURED:
            return MisconfiguredLLMError(_MISCONFIGURED[status], _status_message(status),
                                         status=status)
        return PermanentLLMError(f"HTTP {status}", status=status)
    if isinstance(exc, httpx2.InvalidURL | httpx2.UnsupportedProtocol):
        return MisconfiguredLLMError("bad_url", f"the LLM URL cannot be used: {exc}")
    if isinstance(exc, OfflineModeIsEnabled):
        return PermanentLLMError(str(exc))
    if isinstance(exc, httpx2.ConnectTimeout | httpx2.PoolTimeout):
        return TransientLLMError(f"timeout: {type(exc).__name__}")  # never reached the model
    if isinstance(exc, TimeoutError | httpx2.TimeoutException):
        return TransientLLMError(f"timeout: {type(exc).__name__}", timed_out=True)
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


def _status_message(status: int) -> str:
    return {401: "HTTP 401: the LLM server refused the token (check HF_TOKEN)",
            403: "HTTP 403: the token may not use this model or endpoint (check HF_TOKEN and "
                 "RAG_LLM_MODEL)",
            404: "HTTP 404: the model or the endpoint does not exist (check RAG_LLM_MODEL and "
                 "RAG_LLM_BASE_URL)"}[status]


def probe(calls: ModelCalls) -> Problem | None:
    """A cheap check of the configuration, made once at startup: ``GET <base>/models`` (no
    generation, nothing billed). A refused token or an unusable URL is a :class:`Problem`;
    anything else (no listing, a 5xx, a timeout) says nothing about the configuration, which
    the calls themselves and the circuit breaker then judge."""
    import httpx2

    if not calls.llm_base_url and not _token(calls):
        return Problem("no_token", "the Hugging Face router needs HF_TOKEN (or set "
                       "RAG_LLM_BASE_URL to a server that needs none)")
    _install_session()
    _register_llm_host(calls)
    from huggingface_hub import get_session

    token = _token(calls)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    url = f"{endpoint(calls)}/models"
    try:
        response = get_session().get(url, headers=headers, timeout=httpx2.Timeout(
            min(5.0, calls.llm_read_timeout_s), connect=fixed.LLM_CONNECT_TIMEOUT_S))
    except (httpx2.InvalidURL, httpx2.UnsupportedProtocol) as exc:
        return Problem("bad_url", f"the LLM URL cannot be used: {exc}")
    except (httpx2.HTTPError, OSError):
        return None
    if response.status_code in (401, 403):
        return Problem(_MISCONFIGURED[response.status_code],
                       _status_message(response.status_code))
    return None


def hf_generator(settings: Settings, client: InferenceClient | None = None) -> HFGenerator:
    """The generator of ``settings``: their generation and model-call sections."""
    return HFGenerator(settings.generation, settings.model_calls, client)


class HFGenerator:
    """Chat completion with ``huggingface_hub.InferenceClient`` (see the module docstring)."""

    name = "hf"

    def __init__(self, generation: config.GenerationSettings, calls: ModelCalls,
                 client: InferenceClient | None = None, *, provider: str = GAUGE_NAME) -> None:
        """``provider``: its name in ``llm_usage_rejected_total`` (the breaker gauge's)."""
        self.provider = provider
        self.calls = calls  # where the model is, its token and timeouts
        self.client = client if client is not None else make_client(calls)
        self.model = generation.llm_model
        self.temperature = generation.llm_temperature

    def probe(self) -> Problem | None:
        return probe(self.calls)

    def _kwargs(self, prompt: Prompt) -> dict[str, Any]:
        # The model id goes in the payload (the router routes by it; vLLM and TGI check it).
        return {"max_tokens": prompt.max_tokens, "temperature": self.temperature,
                "model": self.model}

    def generate(self, prompt: Prompt) -> Generation:
        try:
            out = self.client.chat_completion(prompt.messages, stream=False, **self._kwargs(prompt))
            text = out.choices[0].message.content or ""
            finish = getattr(out.choices[0], "finish_reason", None)
        except Exception as exc:
            raise classify(exc) from exc
        usage, source = self._usage(prompt, text, getattr(out, "usage", None))
        return Generation(text=text, usage=usage,
                          model=str(getattr(out, "model", None) or self.model),
                          finish_reason=str(finish) if finish else None,
                          response_id=str(getattr(out, "id", None) or "") or None,
                          usage_source=source)

    def stream(self, prompt: Prompt) -> Iterator[str]:
        client = _stream_client(self.client)
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

    def _usage(self, prompt: Prompt, text: str, usage: Any) -> tuple[TokenUsage, str]:
        """The server's token counts when they pass the checks (``llm.usage``); our tokenizer's
        when they fail or it sent none. With the source of the figures."""
        counter = default_counter()
        return usage_check.checked_usage(
            self.provider, usage, prompt_tokens=counter.count_messages(prompt.messages),
            max_tokens=prompt.max_tokens, output_tokens=lambda: counter.count(text))
