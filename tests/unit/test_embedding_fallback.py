"""The embedding runtime's way out, in process: a runtime that cannot load or fails to embed
hands over to the next (OpenVINO, ONNX Runtime, PyTorch), each fall logged once and counted, and
every key named by the vectors' numerics (the embedding cache, the context cache, the answer key)
follows the runtime in use. The runtimes here are stand-ins at the edge (the real packages failing
to import: tests/app/test_embedding_fallback_served.py)."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pytest

from rag_core.config import Settings
from rag_core.embedding import base
from rag_core.embedding.fallback import FallbackEmbedder
from rag_core.errors import EmbeddingFailed
from rag_core.parts import Parts
from rag_core.redis_kv.keys import context_key, embedding_key
from rag_core.telemetry.metrics import EMBEDDING_FALLBACKS as FALLBACKS


@pytest.fixture(autouse=True)
def fresh_process(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No runtime replaced yet, as in a process that just started."""
    monkeypatch.setattr(base, "_replaced", {})
    monkeypatch.setattr(base, "_generation", [0])
    yield


class Runtime:
    """A runtime that works, or fails where ``fails`` says (``load`` or ``embed``)."""

    def __init__(self, name: str, fails: str = "") -> None:
        self.name, self.fails = name, fails
        self.model_id, self.dim, self.calls = "m", 4, 0

    @property
    def loaded(self) -> bool:
        return self.calls > 0

    def load(self) -> None:
        if self.fails == "load":
            raise ImportError(f"No module named {self.name!r}")
        self.calls += 1

    def embed(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        self.load()
        if self.fails == "embed":
            raise EmbeddingFailed(f"{self.name} could not embed")
        return np.full((len(texts), self.dim), 0.5, dtype=np.float32)


def chain(**fails: str) -> tuple[FallbackEmbedder, dict[str, Runtime]]:
    made: dict[str, Runtime] = {}

    def make(name: str) -> Any:
        made[name] = Runtime(name, fails.get(name, ""))
        return made[name]

    return FallbackEmbedder("openvino", make, "m", 4), made


def falls(before: str, after: str) -> float:
    return FALLBACKS.labels(before, after)._value.get()


def test_a_runtime_that_cannot_load_hands_over_to_the_next_once(
        caplog: pytest.LogCaptureFixture) -> None:
    counted = falls("openvino", "onnx")
    embedder, made = chain(openvino="load")
    with caplog.at_level(logging.WARNING, logger="rag_core.embedding"):
        embedder.load()
        assert embedder.embed(["a", "b"]).shape == (2, 4)
        embedder.embed(["c"])
    assert embedder.backend == "onnx" and embedder.loaded and set(made) == {"openvino", "onnx"}
    assert falls("openvino", "onnx") == counted + 1
    said = [r.getMessage() for r in caplog.records if "embedding runtime" in r.getMessage()]
    assert said == ["embedding runtime openvino failed; onnx computes the vectors from now on"]
    assert base.runtime_in_use(Settings(profile="ci").embedding) == "onnx"


def test_a_runtime_that_fails_to_embed_hands_over_and_the_call_is_answered() -> None:
    counted = falls("onnx", "torch")
    embedder, _ = chain(openvino="load", onnx="embed")
    assert embedder.embed(["a"]).shape == (1, 4)  # the same call, on the runtime that works
    assert embedder.backend == "torch" and falls("onnx", "torch") == counted + 1
    assert base.runtime_in_use(Settings(profile="ci").embedding) == "torch"


def test_with_no_runtime_left_the_call_fails_embedding_failed() -> None:
    embedder, _ = chain(openvino="load", onnx="load", torch="embed")
    with pytest.raises(EmbeddingFailed, match="torch could not embed"):
        embedder.embed(["a"])
    assert embedder.backend == "torch"


def test_every_key_named_by_the_numerics_follows_the_runtime_in_use(
        memory_parts: Parts) -> None:
    bf16 = memory_parts.settings.with_overrides(embedding_backend="openvino",
                                                openvino_precision="bf16")
    torch = memory_parts.settings.with_overrides(embedding_backend="torch")
    assert base.vector_numerics(bf16.embedding) == "openvino-bf16"
    layers = memory_parts.caches.under(bf16, memory_parts.judges.semantic)
    params, question = bf16.retrieval, "What did the notes say about the wall?"
    before = (embedding_key(bf16.embedding, "ann", question),
              context_key(params, "ann", 1, question, 5,
                          numerics=base.vector_numerics(bf16.embedding)),
              layers.answers.key(params, "ann", 1, question, 5))
    as_torch = (embedding_key(torch.embedding, "ann", question),
                context_key(params, "ann", 1, question, 5, numerics="f32"),
                memory_parts.caches.under(torch, memory_parts.judges.semantic).answers.key(
                    params, "ann", 1, question, 5))
    assert all(b != t for b, t in zip(before, as_torch, strict=True))

    embedder, _ = chain(openvino="load")
    embedder.load()  # openvino fails here: onnx (f32) computes the vectors
    assert base.vector_numerics(bf16.embedding) == "f32"
    after = (embedding_key(bf16.embedding, "ann", question),
             context_key(params, "ann", 1, question, 5,
                         numerics=base.vector_numerics(bf16.embedding)),
             layers.answers.key(params, "ann", 1, question, 5))  # the same layers, made before
    assert after == as_torch  # f32 vectors: the keys of f32 vectors, whoever computed them
