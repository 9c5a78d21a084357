"""The ``hf`` generator: chat completion through ``huggingface_hub.InferenceClient``.

With ``Settings.llm_base_url`` it talks to any OpenAI-compatible server (TGI, vLLM, llama.cpp,
or the repo's mock); without, to the Hugging Face Inference API with ``HF_TOKEN``.

huggingface_hub shares one HTTP client per process (connection reuse). Its default client
refuses every request when ``HF_HUB_OFFLINE=1``, which this project sets so that nothing is
downloaded from the hub; ``_install_session`` keeps that refusal for hub hosts only, so a
self-hosted server on the local network still answers, and sets connect/read timeouts.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

from rag_core.config import Settings
from rag_core.llm.base import Generation, Prompt
from rag_core.tokens import default_counter
from rag_core.types import TokenUsage

_HUB_HOSTS = ("huggingface.co", "hf.co")
_session_lock = threading.Lock()
_session_installed = False


class TransientLLMError(Exception):
    """Worth a retry: timeout, connection error, 429 or 5xx."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentLLMError(Exception):
    """Not worth a retry: a 4xx other than 429, or a malformed answer."""


def _install_session(settings: Settings) -> None:
    global _session_installed
    with _session_lock:
        if _session_installed:
            return
        import httpx2
        from huggingface_hub import constants, set_client_factory

        def hook(request: Any) -> None:
            host = request.url.host or ""
            if constants.is_offline_mode() and host.endswith(_HUB_HOSTS):
                raise ConnectionError(f"offline mode: not calling {host}")

        def factory() -> Any:
            return httpx2.Client(
                event_hooks={"request": [hook]},
                follow_redirects=True,
                timeout=httpx2.Timeout(settings.llm_read_timeout_s,
                                       connect=settings.llm_connect_timeout_s),
                limits=httpx2.Limits(max_connections=100, max_keepalive_connections=20),
            )

        set_client_factory(factory)
        _session_installed = True


def _retry_after(response: Any) -> float | None:
    try:
        value = response.headers.get("retry-after")
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _classify(exc: Exception) -> Exception:
    """Map a client exception to transient or permanent."""
    from huggingface_hub.errors import HfHubHTTPError, InferenceTimeoutError

    if isinstance(exc, InferenceTimeoutError | TimeoutError):
        return TransientLLMError(f"timeout: {exc}")
    if isinstance(exc, HfHubHTTPError) and getattr(exc, "response", None) is not None:
        status = exc.response.status_code
        if status == 429 or status >= 500:
            return TransientLLMError(f"HTTP {status}", _retry_after(exc.response))
        return PermanentLLMError(f"HTTP {status}")
    if isinstance(exc, ConnectionError | OSError):
        return TransientLLMError(f"connection: {exc}")
    name = type(exc).__name__
    if "Timeout" in name or "Connect" in name or "Network" in name or "Protocol" in name:
        return TransientLLMError(f"{name}: {exc}")
    return PermanentLLMError(f"{name}: {exc}")


class HFGenerator:
    name = "hf"

    def __init__(self, settings: Settings) -> None:
        from huggingface_hub import InferenceClient

        _install_session(settings)
        self.settings = settings
        token = settings.hf_token.get_secret_value() if settings.hf_token else None
        if settings.llm_base_url:
            self.client = InferenceClient(base_url=settings.llm_base_url, token=token)
        else:
            self.client = InferenceClient(model=settings.llm_model, token=token)
        self.model = settings.llm_model

    def generate(self, prompt: Prompt) -> Generation:
        try:
            out = self.client.chat_completion(
                prompt.messages, max_tokens=prompt.max_tokens,
                temperature=self.settings.llm_temperature, stream=False,
                model=self.model if self.settings.llm_base_url else None,
            )
        except Exception as exc:
            raise _classify(exc) from exc
        try:
            text = out.choices[0].message.content or ""
        except (AttributeError, IndexError) as exc:
            raise PermanentLLMError("malformed completion") from exc
        usage = getattr(out, "usage", None)
        if usage and getattr(usage, "prompt_tokens", None) is not None:
            tokens = TokenUsage(int(usage.prompt_tokens), int(usage.completion_tokens or 0))
        else:
            counter = default_counter()
            tokens = TokenUsage(sum(counter.count(m["content"]) for m in prompt.messages),
                                counter.count(text))
        return Generation(text=text, usage=tokens, model=str(getattr(out, "model", self.model)))

    def stream(self, prompt: Prompt) -> Iterator[str]:
        try:
            chunks = self.client.chat_completion(
                prompt.messages, max_tokens=prompt.max_tokens,
                temperature=self.settings.llm_temperature, stream=True,
                model=self.model if self.settings.llm_base_url else None,
            )
            for chunk in chunks:
                choices = getattr(chunk, "choices", None) or []
                delta = choices[0].delta.content if choices else None
                if delta:
                    yield delta
        except (TransientLLMError, PermanentLLMError):
            raise
        except json.JSONDecodeError as exc:
            raise PermanentLLMError("malformed stream") from exc
        except Exception as exc:
            raise _classify(exc) from exc


