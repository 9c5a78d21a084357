"""Embedders on optimised runtimes: ONNX Runtime and OpenVINO, running the cached export.

Both share the tokenizer and the batching of :class:`RuntimeEmbedder`: texts are tokenised
with the model's own fast tokenizer (truncated at the model's max sequence length), sorted by
length so that a batch pads to similar lengths (as sentence-transformers does), run, and put
back in the caller's order. The graph already pools and normalises.

A loaded runtime is kept once per process and export (a load takes a second or two; a query
takes milliseconds) and shared by every embedder of the process.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag_core.embedding.base import resolve_model_path
from rag_core.embedding.export import ensure_export, locked, source_key
from rag_core.embedding.session import (
    ExportedModel,
    ExportTokenizer,
    Variant,
    onnxruntime_session,
)
from rag_core.errors import EmbeddingFailed
from rag_core.procs import pool_threads

if TYPE_CHECKING:
    import numpy as np

_runtimes: dict[tuple[Any, ...], Any] = {}
_lock = threading.Lock()


# Padded tokens in one batch at most. A runtime keeps the buffers of the largest batch it ran:
# OpenVINO held 1.05 GB after 60 batches of up to 64 texts of up to 256 tokens, and 0.6 GB
# with 16 texts a batch, which was not slower in that run (benchmarks/README.md). Short texts
# still batch by batch_size.
MAX_BATCH_TOKENS = 4096


def token_batches(lengths: Sequence[int], batch_size: int,
                  max_tokens: int = MAX_BATCH_TOKENS) -> list[tuple[int, int]]:
    """``(start, stop)`` of each batch over texts sorted longest first (``lengths``): at most
    ``batch_size`` texts, and at most ``max_tokens`` once padded to the batch's first text,
    always at least one text."""
    out, start = [], 0
    while start < len(lengths):
        width = max(1, lengths[start])
        rows = max(1, min(batch_size, max_tokens // width))
        stop = min(len(lengths), start + rows)
        out.append((start, stop))
        start = stop
    return out


class RuntimeEmbedder:
    """The shared part of the ONNX Runtime and OpenVINO embedders."""

    backend = "runtime"
    variant: Variant = "raw"

    def __init__(self, model_id: str, dim: int, batch_size: int, cache_dir: Path, *,
                 model_path: str | None = None, threads: int = 0,
                 max_seq_length: int | None = None) -> None:
        self.model_id = model_id
        self.dim = dim
        self.batch_size = batch_size
        self.cache_dir = Path(cache_dir)
        self.model_path = model_path or resolve_model_path(model_id)
        self.threads = threads
        self.max_seq_length = max_seq_length  # None: the model's (a lever of the benchmark)
        self._source: str | None = None

    def _key(self) -> tuple[Any, ...]:
        """The loaded runtime's identity: the model's files, not the cache folder they were
        exported to, so that settings with other state or cache folders share one runtime."""
        if self._source is None:  # the files' identity, read once per embedder
            self._source = source_key(self.model_path)
        return (self.backend, self.variant, self.model_id, self._source, self.threads,
                self.max_seq_length)

    def identity(self) -> str:
        """What this embedder's vectors follow from (runtime, model files, threads, and
        OpenVINO's precision), for memos of vectors kept outside the process."""
        return repr(self._key())

    @property
    def loaded(self) -> bool:
        return self._key() in _runtimes

    def load(self) -> None:
        self._runtime()

    def _runtime(self) -> tuple[ExportTokenizer, Callable[[dict[str, np.ndarray]], np.ndarray]]:
        key = self._key()
        with _lock:
            if key not in _runtimes:
                exported = ensure_export(self.model_id, self.model_path, self.cache_dir,
                                         self.variant)
                if exported.dim != self.dim:
                    raise EmbeddingFailed(f"model {self.model_id!r} gives {exported.dim} "
                                          f"dimensions, settings say {self.dim}")
                try:
                    _runtimes[key] = (ExportTokenizer(exported, self.max_seq_length),
                                      self._open(exported))
                except ImportError as exc:
                    raise EmbeddingFailed(
                        f"the {self.backend} embedding backend needs a package that is not "
                        f"installed ({exc.name}); install rag_core's dependencies or set "
                        f"RAG_EMBEDDING_BACKEND=torch") from exc
                except Exception as exc:
                    raise EmbeddingFailed(
                        f"could not load the {self.backend} runtime for {self.model_id!r} "
                        f"from {exported.folder}: {exc}") from exc
            return _runtimes[key]  # type: ignore[no-any-return]

    def _open(self, exported: ExportedModel) -> Callable[[dict[str, np.ndarray]], np.ndarray]:
        raise NotImplementedError

    def embed(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        import numpy as np

        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        tokens, run = self._runtime()
        try:
            encodings = tokens.encode(texts)
            order = np.argsort([-len(e.ids) for e in encodings], kind="stable")
            out = np.empty((len(texts), self.dim), dtype=np.float32)
            batches = token_batches([len(encodings[i].ids) for i in order], self.batch_size)
            if progress:
                from tqdm.auto import tqdm

                batches = tqdm(batches, desc="embedding", unit="batch")
            for start, stop in batches:
                rows = order[start:stop]
                out[rows] = run(tokens.batch([encodings[i] for i in rows]))
        except Exception as exc:
            raise EmbeddingFailed(f"embedding failed: {exc}") from exc
        return out


class OnnxRuntimeEmbedder(RuntimeEmbedder):
    """ONNX Runtime on the graph with ONNX Runtime's transformer fusions (f32)."""

    backend = "onnx"
    variant: Variant = "ort"

    def _open(self, exported: ExportedModel) -> Callable[[dict[str, np.ndarray]], np.ndarray]:
        import numpy as np

        session = onnxruntime_session(exported.graph, self.threads)

        def run(feed: dict[str, np.ndarray]) -> np.ndarray:
            return np.asarray(session.run(None, feed)[0], dtype=np.float32)

        return run


COMPILED_CACHE = "openvino-compiled"


class OpenVinoEmbedder(RuntimeEmbedder):
    """OpenVINO on the raw graph; ``precision`` is its CPU inference precision hint."""

    backend = "openvino"
    variant: Variant = "raw"

    def __init__(self, model_id: str, dim: int, batch_size: int, cache_dir: Path, *,
                 model_path: str | None = None, threads: int = 0,
                 max_seq_length: int | None = None, precision: str = "bf16") -> None:
        super().__init__(model_id, dim, batch_size, cache_dir, model_path=model_path,
                         threads=threads, max_seq_length=max_seq_length)
        self.precision = precision

    def _key(self) -> tuple[Any, ...]:
        return (*super()._key(), self.precision)

    def ov_config(self) -> dict[str, Any]:
        """The CPU plugin's properties."""
        return {"INFERENCE_PRECISION_HINT": self.precision,
                "PERFORMANCE_HINT": "LATENCY",
                # kernels kept per input shape: bounded (RSS, as above)
                "CPU_RUNTIME_CACHE_CAPACITY": 64,
                "INFERENCE_NUM_THREADS": pool_threads(self.threads),
                # On a shared host the defaults lose: threads pinned one per core cannot leave
                # a core another job holds, and a static split of each layer makes every
                # inference wait for its slowest thread. Unpinned threads with TBB's dynamic
                # split measured 3.9x/4.5x torch's chunks/s quiet/busy against 2.8x/3.6x
                # (benchmarks/README.md, "Under contention").
                "ENABLE_CPU_PINNING": False,
                "TBB_PARTITIONER": "AUTO"}

    def _open(self, exported: ExportedModel) -> Callable[[dict[str, np.ndarray]], np.ndarray]:
        import numpy as np
        import openvino as ov

        config = self.ov_config()
        # OpenVINO's model cache: the first process compiles the graph for this CPU and this
        # config and writes the result beside the export; later processes (every CLI call,
        # every worker) load it instead of compiling again: measured here 1.0-1.2 s -> 0.3 s.
        # OpenVINO keys a blob by graph, config and device, and compiles when it cannot use one.
        # Processes that start together (uvicorn's workers) would write the same blob at once,
        # and OpenVINO fails on a blob another process is replacing ("cannot set
        # permissions"): one process compiles and writes it under a file lock, the others wait
        # and load it. Should the cache still fail, the graph is compiled without it.
        config["CACHE_DIR"] = str(exported.folder / COMPILED_CACHE)
        core = ov.Core()
        try:
            with locked(exported.folder / f".{COMPILED_CACHE}.lock"):
                compiled = core.compile_model(str(exported.graph), "CPU", config)
        except RuntimeError:
            del config["CACHE_DIR"]
            compiled = core.compile_model(str(exported.graph), "CPU", config)
        # One infer request behind one lock. With a request per thread, requests created while
        # another thread's request changed its input shape deadlocked a cold app: four first
        # questions at once, two threads in create_infer_request, two in infer's set_shape,
        # the process frozen with the GIL held (py-spy, 2026-11-23). One inference already
        # uses every core (PERFORMANCE_HINT LATENCY), so serialising costs little.
        lock = threading.Lock()
        request = compiled.create_infer_request()

        def run(feed: dict[str, np.ndarray]) -> np.ndarray:
            with lock:
                result = request.infer(feed)
                return np.array(result[0], dtype=np.float32, copy=True)

        return run
