"""The Embedder contract, run by every runtime of the real model (PyTorch through
sentence-transformers, ONNX Runtime, OpenVINO) and by the hash embedder that stands in for it
in the fast lane. The export cache of the optimised runtimes: tests/unit/test_embedders.py."""

from __future__ import annotations

import numpy as np
import pytest
from fakes import HashEmbedder

from rag_core.config import Settings
from rag_core.embedding import Embedder, build_embedder

TEXTS = ["Grace upon grace.", "Abraham left Haran at seventy-five.", "Grace upon grace."]


class EmbedderContract:
    def test_unit_vectors_one_row_per_text(self, embedder: Embedder) -> None:
        out = embedder.embed(TEXTS)
        assert out.shape == (3, embedder.dim) and out.dtype == np.float32
        assert np.allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
        assert np.allclose(out[0], out[2], atol=1e-6)  # the same text, the same vector
        assert embedder.embed([]).shape == (0, embedder.dim)

    def test_batches_do_not_change_vectors(self, embedder: Embedder) -> None:
        alone = embedder.embed([TEXTS[1]])[0]
        batched = embedder.embed(TEXTS)[1]
        assert float(alone @ batched) > 0.9999

    def test_shared_words_are_closer_than_none(self, embedder: Embedder) -> None:
        a, b, c = embedder.embed(["mercy in the storm", "the storm and mercy",
                                  "tax receipts for March"])
        assert float(a @ b) > float(a @ c)

    def test_identity_and_load(self, embedder: Embedder) -> None:
        assert embedder.model_id and embedder.dim == 384
        embedder.embed(["x"])
        assert embedder.loaded


class TestHashEmbedder(EmbedderContract):
    @pytest.fixture
    def embedder(self) -> Embedder:
        return HashEmbedder()


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["torch", "onnx", "openvino"])
class TestModelRuntimes(EmbedderContract):
    @pytest.fixture
    def embedder(self, backend: str) -> Embedder:
        return build_embedder(Settings(profile="ci", embedding_backend=backend))
