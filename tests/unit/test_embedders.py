"""The Embedder contract on every backend, and the export cache of the optimised runtimes.

Real model, real runtimes: torch (sentence-transformers), ONNX Runtime and OpenVINO.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rag_core.config import Settings
from rag_core.embedding import (
    DEFAULT_MODEL,
    SentenceTransformerEmbedder,
    build_embedder,
    resolve_model_path,
    vector_numerics,
)
from rag_core.embedding import export as embed_export
from rag_core.embedding import runtimes as embed_runtimes
from rag_core.embedding import session as embed_session
from rag_core.embedding.export import MANIFEST, ensure_export, export_count, read_export
from rag_core.errors import EmbeddingFailed
from rag_core.llm.prompt import prompt_id
from rag_core.redis_kv.keys import embedding_key, query_key

pytestmark = pytest.mark.slow

SAMPLE = [
    "What did the sermon say about forgiveness?",
    "Grace",
    "Series: Hebrews. Speaker: Ruth Okafor.\n\nFaith is the assurance of things hoped for. "
    "Abraham waited for years and still trusted the promise; waiting is not wasted when God is "
    "the one we wait on. We talked about prayer in seasons of delay.",
    " ".join(["Love your neighbour as yourself, said the preacher, and the hall went quiet."] * 25),
    "",
]


def _settings(backend: str, **extra: object) -> Settings:
    return Settings(profile="ci", embedding_backend=backend, **extra)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def torch_vectors() -> np.ndarray:
    return build_embedder(_settings("torch")).embed(SAMPLE)


# The Embedder contract of every backend is in tests/contracts/test_embedder_contract.py.


@pytest.mark.parametrize("backend", ["onnx", "openvino"])
class TestOptimisedRuntimes:
    def test_close_to_torch(self, backend: str, torch_vectors: np.ndarray) -> None:
        out = build_embedder(_settings(backend)).embed(SAMPLE)
        assert float(np.min(np.sum(out * torch_vectors, axis=1))) >= 0.999


def test_factory_picks_the_backend() -> None:
    assert isinstance(build_embedder(_settings("torch")), SentenceTransformerEmbedder)
    assert isinstance(build_embedder(_settings("onnx")), embed_runtimes.OnnxRuntimeEmbedder)
    ov = build_embedder(_settings("openvino", openvino_precision="f32"))
    assert isinstance(ov, embed_runtimes.OpenVinoEmbedder) and ov.precision == "f32"


def test_backend_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_EMBEDDING_BACKEND", "onnx")
    assert Settings().embedding.embedding_backend == "onnx"
    monkeypatch.setenv("RAG_EMBEDDING_BACKEND", "tensorflow")
    with pytest.raises(ValueError):
        Settings()


def test_cache_keys_name_the_numerics_only_when_vectors_differ() -> None:
    f32 = [_settings("torch"), _settings("onnx"), _settings("openvino", openvino_precision="f32")]
    bf16 = _settings("openvino", openvino_precision="bf16")
    assert {vector_numerics(s.embedding) for s in f32} == {"f32"}
    assert len({embedding_key(s.embedding, "u", "grace") for s in f32}) == 1
    assert (embedding_key(bf16.embedding, "u", "grace")
            != embedding_key(f32[0].embedding, "u", "grace"))

    def qkey(s: Settings) -> str:
        return query_key(s, s.retrieval, "u", 1, "grace", 5, prompt=prompt_id())

    assert qkey(bf16) != qkey(f32[0]) and qkey(f32[0]) == qkey(f32[1])


def test_a_missing_runtime_package_is_a_coded_error(monkeypatch: pytest.MonkeyPatch,
                                                    tmp_path: Path) -> None:
    shared = Settings().model_cache_path
    embedder = embed_runtimes.OpenVinoEmbedder(DEFAULT_MODEL, 384, 8, shared, threads=7)
    monkeypatch.setitem(sys.modules, "openvino", None)  # import openvino -> ImportError
    with pytest.raises(EmbeddingFailed) as err:
        embedder.load()
    assert err.value.code == "EMBEDDING_FAILED"
    assert "RAG_EMBEDDING_BACKEND=torch" in err.value.message


# --- the export cache ----------------------------------------------------------------------

MODEL_PATH = resolve_model_path(DEFAULT_MODEL)


def _graph_of(cache: Path, variant: embed_session.Variant) -> Path:
    return embed_export.export_folder(cache, DEFAULT_MODEL, MODEL_PATH, variant) / "model.onnx"


def _child(cache: Path, backend: str) -> dict[str, object]:
    """Load ``backend`` from ``cache`` in a new process; what it exported and embedded."""
    code = (
        "import json, sys; from pathlib import Path\n"
        "from rag_core.embedding import build_embedder, export as embed_export\n"
        "from rag_core.config import Settings\n"
        f"s = Settings(embedding_backend={backend!r}, model_cache_dir=Path({str(cache)!r}))\n"
        "v = build_embedder(s).embed(['grace and peace'])\n"
        "print(json.dumps({'exports': embed_export.export_count(), 'v': v[0][:4].tolist()}))\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=600, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_export_is_made_once_and_reused_by_later_processes(tmp_path: Path) -> None:
    cache = tmp_path / "models"
    before = export_count()
    first = ensure_export(DEFAULT_MODEL, MODEL_PATH, cache, "ort")
    assert export_count() - before == 2  # the raw graph, then the fused one
    mtimes = {v: _graph_of(cache, v).stat().st_mtime_ns for v in ("raw", "ort")}
    again = ensure_export(DEFAULT_MODEL, MODEL_PATH, cache, "ort")
    assert again == first and export_count() - before == 2
    for backend in ("onnx", "openvino"):
        assert _child(cache, backend)["exports"] == 0
    assert {v: _graph_of(cache, v).stat().st_mtime_ns for v in ("raw", "ort")} == mtimes
    assert not list(cache.glob(".*.tmp-*"))  # no half-built folder left behind


def test_concurrent_first_starts_build_one_export(tmp_path: Path) -> None:
    cache = tmp_path / "models"
    code = (
        "import json; from pathlib import Path\n"
        "from rag_core.embedding import build_embedder, export as embed_export\n"
        "from rag_core.config import Settings\n"
        f"s = Settings(embedding_backend='openvino', model_cache_dir=Path({str(cache)!r}))\n"
        "v = build_embedder(s).embed(['grace and peace'])\n"
        "print(json.dumps({'exports': embed_export.export_count(), 'v': v[0][:4].tolist()}))\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True, env=env) for _ in range(3)]
    results = []
    for proc in procs:
        out, _ = proc.communicate(timeout=600)
        assert proc.returncode == 0
        results.append(json.loads(out.strip().splitlines()[-1]))
    assert sum(r["exports"] for r in results) == 1
    assert all(np.allclose(r["v"], results[0]["v"], atol=1e-3) for r in results)
    assert read_export(_graph_of(cache, "raw").parent) is not None


def test_a_cold_openvino_embedder_serves_concurrent_first_calls() -> None:
    """Eight threads embed texts of different lengths at once in a fresh process (a cold app
    whose first questions arrive together): every call returns, with the vectors a serial call
    gives. With an infer request per thread this froze the process (create_infer_request in
    some threads while another's infer changed its input shape)."""
    code = (
        "import json, threading\n"
        "from rag_core.embedding import build_embedder\n"
        "from rag_core.config import Settings\n"
        "e = build_embedder(Settings(embedding_backend='openvino'))\n"
        "e.load()\n"
        "texts = [('grace ' * (i * 7 + 1)).strip() for i in range(8)]\n"
        "out = {}\n"
        "def one(i): out[i] = e.embed([texts[i]])[0][:4].tolist()\n"
        "ts = [threading.Thread(target=one, args=(i,)) for i in range(8)]\n"
        "[t.start() for t in ts]; [t.join() for t in ts]\n"
        "serial = [e.embed([t])[0][:4].tolist() for t in texts]\n"
        "print(json.dumps({'threads': [out[i] for i in range(8)], 'serial': serial}))\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=600, check=False)  # generous: a hang is the failure
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert np.allclose(result["threads"], result["serial"], atol=1e-3)


@pytest.fixture
def built_cache(tmp_path: Path) -> Path:
    """A cache holding a valid raw export (copied from the shared one, or built)."""
    import shutil

    shared = ensure_export(DEFAULT_MODEL, MODEL_PATH, Settings().model_cache_path, "raw")
    cache = tmp_path / "models"
    cache.mkdir()
    shutil.copytree(shared.folder, cache / shared.folder.name)
    return cache


@pytest.mark.parametrize("damage", ["truncate", "flip", "no_manifest", "no_graph", "bad_json"])
def test_a_corrupt_or_missing_export_is_rebuilt(built_cache: Path, damage: str) -> None:
    graph = _graph_of(built_cache, "raw")
    folder = graph.parent
    if damage == "truncate":
        graph.write_bytes(graph.read_bytes()[: graph.stat().st_size // 2])
    elif damage == "flip":
        data = bytearray(graph.read_bytes())
        data[len(data) // 2] ^= 0xFF
        graph.write_bytes(bytes(data))
    elif damage == "no_manifest":
        (folder / MANIFEST).unlink()
    elif damage == "no_graph":
        graph.unlink()
    else:
        (folder / MANIFEST).write_text("{not json")
    assert read_export(folder) is None
    before = export_count()
    rebuilt = ensure_export(DEFAULT_MODEL, MODEL_PATH, built_cache, "raw")
    assert export_count() - before == 1
    assert read_export(folder) == rebuilt
    embedder = embed_runtimes.OpenVinoEmbedder(DEFAULT_MODEL, 384, 8, built_cache,
                                               precision="f32", threads=1)
    vector = embedder.embed(["grace"])
    assert vector.shape == (1, 384)


def test_an_export_that_cannot_be_made_is_a_coded_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder should be")
    with pytest.raises(EmbeddingFailed) as err:
        ensure_export(DEFAULT_MODEL, MODEL_PATH, blocker / "models", "raw")
    assert err.value.code == "EMBEDDING_FAILED" and "could not export" in err.value.message
