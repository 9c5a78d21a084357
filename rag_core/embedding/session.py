"""What an exported model is, and how to feed it: its tokenizer with batch padding, and an ONNX
Runtime session. Shared by the export (which checks its graph) and the runtimes (which run it)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from rag_core.procs import pool_threads

if TYPE_CHECKING:
    import numpy as np

Variant = Literal["raw", "ort"]


@dataclass(frozen=True)
class ExportedModel:
    """A cached, checked export: the graph, its tokenizer and how to feed it."""

    folder: Path
    graph: Path
    tokenizer: Path
    input_names: tuple[str, ...]
    max_seq_length: int
    dim: int
    pad_id: int
    pad_token: str


class ExportTokenizer:
    """The export's tokenizer, truncating at the model's max length; batches padded here."""

    def __init__(self, exported: ExportedModel, max_length: int | None = None) -> None:
        from tokenizers import Tokenizer

        self.names = exported.input_names
        self.pad_id = exported.pad_id
        self.tokenizer = Tokenizer.from_file(str(exported.tokenizer))
        self.tokenizer.enable_truncation(max_length=max_length or exported.max_seq_length)
        self.tokenizer.no_padding()

    def encode(self, texts: Sequence[str]) -> list[Any]:
        return list(self.tokenizer.encode_batch(list(texts)))

    def batch(self, encodings: Sequence[Any]) -> dict[str, np.ndarray]:
        """Model inputs of one batch, padded to its longest text."""
        import numpy as np

        width = max(len(e.ids) for e in encodings)
        shape = (len(encodings), width)
        ids = np.full(shape, self.pad_id, dtype=np.int64)
        mask = np.zeros(shape, dtype=np.int64)
        types = np.zeros(shape, dtype=np.int64)
        for row, enc in enumerate(encodings):
            n = len(enc.ids)
            ids[row, :n] = enc.ids
            mask[row, :n] = 1
            types[row, :n] = enc.type_ids
        arrays = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        return {name: arrays[name] for name in self.names}

    def feed(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        return self.batch(self.encode(texts))


def onnxruntime_session(graph: Path, threads: int) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Every batch has another shape: the arena and memory patterns keep buffers per shape (RSS
    # grew from 0.3 to 1.6 GB over 40 batches of mixed lengths); without them it stays ~0.4 GB.
    options.enable_cpu_mem_arena = False
    options.enable_mem_pattern = False
    # A pool as large as the CPUs this process may use (affinity, cgroup quota), and threads
    # that sleep when out of work instead of spinning: a spinning pool takes CPU from whatever
    # else runs on a shared host and gains nothing when the cores are busy.
    options.intra_op_num_threads = pool_threads(threads)
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    return ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
