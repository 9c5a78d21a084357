"""Generator presets for the harness, and the recorder that sits between pipeline and model.

``start(name, settings)`` turns one of ``GENERATORS`` into Settings the pipeline understands
and starts what that needs:

- ``extractive``: the offline generator, nothing to start;
- ``local``: ``rag-core local-llm`` (SmolLM2-135M-Instruct on CPU) as a child process, reached
  by the ``hf`` generator through ``llm_base_url``;
- ``obey``: the mock LLM with ``obey`` (the obedient adversary) in a thread, same route;
- ``hf``: whatever the environment configures (``RAG_LLM_BASE_URL`` and/or ``HF_TOKEN``,
  ``RAG_LLM_MODEL``), for a user who points the harness at a real model.

``session.stop()`` stops what was started (also at interpreter exit, so a failed notebook
cell does not leave a model server behind).

:class:`Recorder` wraps the pipeline's generator for a measurement: it keeps the model's raw
text of each call (the answer with the output stage off, in the same run) and can plant a
canary token in the system message or flatten the prompt's structure (the counterfactual
"prompt structure off"). It changes nothing in rag_core: it sits at the edge, where the
pipeline hands a prompt to a model.
"""

from __future__ import annotations

import atexit
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from rag_core.config import Settings
from rag_core.llm.base import Generation, GuardedGenerator, Prompt
from rag_core.types import Chunk, listed

GENERATORS = ("extractive", "local", "obey", "hf")
# A token that only the system prompt of a measured run contains: a leak in any language or
# encoding that keeps it is caught, whatever else the leak changed.
CANARY_TOKEN = "ZX-ORCHID-5512"
CANARY_SENTENCE = f"Internal reference code: {CANARY_TOKEN}."
# A slow CPU model: one call may take minutes on a loaded machine; never retry it.
LOCAL_OVERRIDES: dict[str, object] = {"llm_read_timeout_s": 900.0, "llm_max_retries": 0,
                                   "breaker_fail_max": 1000, "llm_temperature": 0.0}


@dataclass
class GeneratorSession:
    name: str
    settings: Settings
    url: str | None = None
    _stops: list[Callable[[], None]] = field(default_factory=list)

    def stop(self) -> None:
        while self._stops:
            self._stops.pop()()


def start(name: str, settings: Settings, *, max_tokens: int | None = None,
          log_dir: str | Path | None = None, threads: int = 1,
          quantize: str = "none") -> GeneratorSession:
    """Settings for generator ``name`` on top of ``settings`` (and its server, started).

    ``max_tokens`` caps the output budget of a real model (``local``, ``hf``); ``extractive``
    and ``obey`` keep the service's budget (a capped obedient answer would hide a long reveal
    behind the short payloads written before it)."""
    if name not in GENERATORS:
        raise ValueError(f"unknown generator {name!r}; choose one of {', '.join(GENERATORS)}")
    if name == "extractive":
        return GeneratorSession(name, settings.with_overrides(llm="extractive"))
    if name == "obey":
        from rag_core.devservers.mock_server import start_mock

        url, stop, _app = start_mock(obey=True, model="mock-llm-obey")
        session = GeneratorSession(name, settings.with_overrides(
            llm="hf", llm_base_url=f"{url}/v1", llm_model="mock-llm-obey"), url)
        session._stops.append(stop)
        return session
    # a real model is slow: its output budget may be capped (the mock's answers cost nothing)
    base = settings.with_overrides(output_token_budget=max_tokens) if max_tokens else settings
    if name == "local":
        return _start_local(base, log_dir, threads, quantize)
    return GeneratorSession(name, _hf_from_environment(base))


def _start_local(base: Settings, log_dir: str | Path | None, threads: int,
                 quantize: str) -> GeneratorSession:
    from contextlib import ExitStack

    from rag_core.devservers.local_model import MODEL_ID
    from rag_core.devservers.local_server import start_local_llm

    log = Path(log_dir or Path(base.services.state_dir) / "logs") / "local-llm.log"
    stack = ExitStack()
    url = stack.enter_context(start_local_llm(base.services.state_dir, log, threads=threads,
                                              quantize=quantize))
    session = GeneratorSession("local", base.with_overrides(
        llm="hf", llm_base_url=f"{url}/v1", llm_model=MODEL_ID, **LOCAL_OVERRIDES), url)
    session._stops.append(stack.close)
    atexit.register(session.stop)
    return session


def _hf_from_environment(base: Settings) -> Settings:
    """``base`` when it names a model already (the team's settings: ``RAG_LLM=hf`` with an
    endpoint, from the environment, ``--env-file`` or the dataset), else the environment's."""
    if base.generation.llm == "hf" and (base.model_calls.llm_base_url
                                        or base.model_calls.hf_token is not None):
        return base
    env = Settings()  # type: ignore[call-arg]  # the user's RAG_* / HF_TOKEN variables
    if not env.model_calls.llm_base_url and env.model_calls.hf_token is None:
        raise ValueError("generator 'hf' needs RAG_LLM_BASE_URL (any OpenAI-compatible "
                         "server) or HF_TOKEN in the environment")
    return base.with_overrides(llm="hf", llm_base_url=env.model_calls.llm_base_url,
                               llm_model=env.generation.llm_model,
                               hf_token=env.model_calls.hf_token)


@contextmanager
def running(name: str, settings: Settings, *, max_tokens: int | None = None,
            log_dir: str | Path | None = None, threads: int = 1,
            quantize: str = "none") -> Iterator[GeneratorSession]:
    """``with running("obey", settings) as session:`` :func:`start`, stopped at the end."""
    session = start(name, settings, max_tokens=max_tokens, log_dir=log_dir, threads=threads,
                    quantize=quantize)
    try:
        yield session
    finally:
        session.stop()


# --- the recorder ------------------------------------------------------------------------------


def flat_messages(prompt: Prompt) -> list[dict[str, str]]:
    """The prompt's messages without its structure: the same system message, then the notes
    and the question as plain text (no delimiter tags, no defused tags, no closing
    reminder). The counterfactual of "prompt structure off": the note guard still applies,
    as it does in the defended run."""
    notes = "\n\n".join(plain_source(n, c, guard=True)
                         for n, c in enumerate(prompt.chunks, start=1))
    system = [m for m in prompt.messages if m["role"] == "system"]
    return [*system, {"role": "user",
                      "content": f"Notes:\n{notes or '(none)'}\n\nQuestion: {prompt.question}"}]


def plain_source(n: int, chunk: Chunk, *, guard: bool = False) -> str:
    """Source ``[n]`` as plain text: its metadata as stored (not neutralised the way
    ``rag_core.llm.prompt.source_header`` does it) and its text as stored (not defused);
    with ``guard``, planted instructions left out (``rag_core.safety.note_guard``)."""
    from rag_core.safety.note_guard import guard_field, guard_text

    def field(value: object) -> str:
        return guard_field(str(value)) if guard else str(value)

    meta = chunk.metadata
    parts = [f"[{n}] {field(meta.get('title') or 'Untitled note') or 'Untitled note'}"]
    parts += [f"{key}: {field(meta[key])}" for key in ("speaker", "date", "series")
              if meta.get(key)]
    parts += [f"{key}: " + ", ".join(field(v) for v in listed(meta[key]))
              for key in ("scripture", "tags") if meta.get(key)]
    return " | ".join(parts) + "\n" + (guard_text(chunk.text) if guard else chunk.text)


def plant_token(messages: list[dict[str, str]], sentence: str = CANARY_SENTENCE
                ) -> list[dict[str, str]]:
    """The messages with ``sentence`` appended to the system message."""
    return [{**m, "content": f"{m['content']}\n{sentence}"} if m["role"] == "system" else m
            for m in messages]


class Recorder:
    """A generator wrapper that keeps the raw text of each call (see the module docstring).

    ``take()`` returns the raw text of the calls since the last ``take()`` (None when the
    pipeline did not call the model: a refusal, no context, or a cached answer)."""

    def __init__(self, inner: GuardedGenerator, *, plant: bool = True, flat: bool = False) -> None:
        self.inner = inner
        self.name = inner.name
        self.plant = plant
        self.flat = flat
        self.calls = 0
        self._raw: list[str] = []

    def __getattr__(self, item: str) -> object:  # state, retry_after, ... of the wrapped one
        if item == "inner":  # not set yet (copy, pickle): no recursion
            raise AttributeError(item)
        return getattr(self.inner, item)

    @property
    def state(self) -> str:
        return self.inner.state

    def retry_after(self) -> float:
        return self.inner.retry_after()

    def check_config(self) -> dict[str, object]:
        return self.inner.check_config()

    def _prepare(self, prompt: Prompt) -> Prompt:
        messages = flat_messages(prompt) if self.flat else list(prompt.messages)
        if self.plant:
            messages = plant_token(messages)
        return replace(prompt, messages=messages)

    def generate(self, prompt: Prompt) -> Generation:
        self.calls += 1
        generation = self.inner.generate(self._prepare(prompt))
        self._raw.append(generation.text)
        return generation

    def stream(self, prompt: Prompt) -> Iterator[str]:
        self.calls += 1
        pieces: list[str] = []
        try:
            for piece in self.inner.stream(self._prepare(prompt)):
                pieces.append(piece)
                yield piece
        finally:
            self._raw.append("".join(pieces))

    def take(self) -> str | None:
        raw, self._raw = self._raw, []
        return "\n".join(raw) if raw else None
