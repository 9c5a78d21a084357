"""The harness's embedding memo: a vector is read back for the same model and text, and
embedded afresh when either changes (evals/quality/vectors.py)."""

import numpy as np

from evals.quality import vectors
from rag_core.config import Settings


class FakeEmbedder:
    """Vectors from the text's length, under an identity the test sets."""

    model_id, dim, loaded = "m", 2, True

    def __init__(self, identity="model-a"):
        self.name = identity
        self.seen = []

    def identity(self):
        return self.name

    def embed(self, texts, *, progress=False):
        self.seen += list(texts)
        return np.array([[len(t), 1.0] for t in texts], dtype=np.float32)


def _memo(settings, inner):
    return vectors.MemoEmbedder(inner, vectors.memo_for(settings, inner))


def test_a_later_process_reads_the_vectors_back_and_embeds_only_new_texts(tmp_path):
    settings = Settings(profile="ci", state_dir=tmp_path)
    first = FakeEmbedder()
    assert _memo(settings, first).embed(["aa", "b"])[:, 0].tolist() == [2, 1]
    assert (tmp_path / "reuse" / vectors.FILE).is_file()
    later = FakeEmbedder()  # a new memo, as a new run's process has
    out = _memo(settings, later).embed(["b", "ccc", "aa"])
    assert later.seen == ["ccc"]
    assert out[:, 0].tolist() == [1, 3, 2] and out.dtype == np.float32


def test_another_model_misses(tmp_path):
    settings = Settings(profile="ci", state_dir=tmp_path)
    _memo(settings, FakeEmbedder("model-a")).embed(["aa", "b"])
    other = FakeEmbedder("model-b")
    _memo(settings, other).embed(["aa", "b"])
    assert other.seen == ["aa", "b"]
    again = FakeEmbedder("model-a")
    _memo(settings, again).embed(["aa", "b", "b "])  # a changed text is another text
    assert again.seen == ["b "]


def test_the_model_key_follows_the_identity_and_the_size():
    a, b = FakeEmbedder("x"), FakeEmbedder("x")
    assert vectors.model_key(a) == vectors.model_key(b)
    b.dim = 3
    assert vectors.model_key(a) != vectors.model_key(b)
    assert vectors.model_key(a) != vectors.model_key(FakeEmbedder("y"))


def test_an_embedder_without_an_identity_is_memoised_in_the_process_only(tmp_path):
    class Plain:
        model_id, dim, loaded = "m", 2, True

        def embed(self, texts, *, progress=False):
            return np.ones((len(texts), 2), dtype=np.float32)

    assert vectors.memo_for(Settings(profile="ci", state_dir=tmp_path), Plain()) is None


def test_an_unusable_memo_file_is_left_out_with_a_warning(tmp_path):
    import pytest

    (tmp_path / "reuse").mkdir()
    (tmp_path / "reuse" / vectors.FILE).write_text("not a database")
    inner = FakeEmbedder()
    memo = _memo(Settings(profile="ci", state_dir=tmp_path), inner)
    with pytest.warns(UserWarning, match="left out"):
        assert memo.embed(["aa"])[:, 0].tolist() == [2]
    assert memo.embed(["aa", "b"])[:, 0].tolist() == [2, 1] and inner.seen == ["aa", "b"]


def test_the_real_embedders_say_what_their_vectors_follow_from(tmp_path):
    from rag_core.embedding import build_embedder

    torch_ = build_embedder(Settings(profile="ci", state_dir=tmp_path,
                                     embedding_backend="torch"))
    bf16 = build_embedder(Settings(profile="ci", state_dir=tmp_path))
    f32 = build_embedder(Settings(profile="ci", state_dir=tmp_path, openvino_precision="f32"))
    keys = {vectors.model_key(e) for e in (torch_, bf16, f32)}
    assert None not in keys and len(keys) == 3


def test_the_model_key_of_a_fallback_chain_is_that_of_the_runtime_it_uses():
    from rag_core.embedding import build_embedder
    from rag_core.embedding.fallback import FallbackEmbedder

    settings = Settings(profile="ci")
    chain = FallbackEmbedder.of(settings)  # nothing loaded: the keys name files, not models
    assert vectors.model_key(chain) == vectors.model_key(build_embedder(settings))
    assert vectors.model_key(chain) != vectors.model_key(build_embedder(settings, "torch"))
