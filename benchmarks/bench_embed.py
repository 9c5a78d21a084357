"""Embedding throughput and query latency per runtime, and the levers tried (issue 18).

    python benchmarks/bench_embed.py [--repeats 5] [--queries 20] [--busy] [--levers]
        [--ov-lever NAME] [--json out.json]

Texts: the golden notes as ingestion embeds them (200-token chunks with their metadata
header) and the golden questions one at a time (a query embed of a miss). Every variant is
measured in every repeat, interleaved, so that a busy machine slows them alike; the figures are
medians over repeats with the spread (min-max), and ratios against torch are the medians of
the per-repeat ratios. ``--levers`` adds the variants of the lever table: ONNX Runtime without
its fusions, dynamic int8, batch size, threads and a shorter max sequence length.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from rag_core.config import Settings
from rag_core.embedding import Embedder, build_embedder
from rag_core.embedding.runtimes import OnnxRuntimeEmbedder, OpenVinoEmbedder, onnxruntime_session
from rag_core.procs import pool_threads, usable_cpus

GOLDEN = Path(__file__).resolve().parents[1] / "golden"


def golden_texts(settings: Settings) -> tuple[list[str], list[str]]:
    from evals.datasets.golden import load_qa
    from rag_core.ingest.chunking import chunk_note, embedding_text
    from rag_core.ingest.readers import load_notes
    from rag_core.tokens import TokenCounter

    counter = TokenCounter()
    notes = [n for user in sorted((GOLDEN / "notes").iterdir()) for n in load_notes(user)]
    chunks = [embedding_text(n, c.text) for n in notes
              for c in chunk_note(n, counter, settings.embedding.chunk_tokens,
                                  settings.embedding.chunk_overlap_tokens)]
    questions = [str(q) for q in load_qa(GOLDEN)["question"]]
    return chunks, questions


class Int8OnnxEmbedder(OnnxRuntimeEmbedder):
    """ONNX Runtime on a dynamically quantised (int8 weights, per channel) fused graph."""

    variant = "ort"

    def _key(self) -> tuple[Any, ...]:
        return (*super()._key(), "int8")

    def _open(self, exported: Any) -> Callable[[dict[str, np.ndarray]], np.ndarray]:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        target = exported.folder.parent / f"{exported.folder.name}.int8.onnx"
        if not target.exists():
            quantize_dynamic(str(exported.graph), str(target), weight_type=QuantType.QInt8,
                             per_channel=True, extra_options={"DefaultTensorType": 1})
        session = onnxruntime_session(target, self.threads)
        return lambda feed: np.asarray(session.run(None, feed)[0], dtype=np.float32)


class TunedOpenVinoEmbedder(OpenVinoEmbedder):
    """OpenVINO with CPU plugin properties changed from the default's (a lever)."""

    def __init__(self, *args: Any, extra: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.extra = extra

    def _key(self) -> tuple[Any, ...]:
        return (*super()._key(), tuple(sorted(self.extra.items())))

    def ov_config(self) -> dict[str, Any]:
        return {**super().ov_config(), **self.extra}


class UnfusedOnnxEmbedder(OnnxRuntimeEmbedder):
    """ONNX Runtime on the exported graph without the transformer fusions."""

    variant = "raw"


# CPU plugin properties tried against the default's (what OpenVINO does with its threads).
OPENVINO_LEVERS: dict[str, dict[str, Any]] = {
    "old-default": {"ENABLE_CPU_PINNING": True, "TBB_PARTITIONER": "STATIC"},
    "pinned": {"ENABLE_CPU_PINNING": True},
    "static-partition": {"TBB_PARTITIONER": "STATIC"},
    "throughput": {"PERFORMANCE_HINT": "THROUGHPUT"},
    "1thread": {"INFERENCE_NUM_THREADS": 1},
}


def variants(base: Settings, levers: bool, ov_levers: tuple[str, ...] = ()) -> dict[str, Embedder]:
    def make(**changes: Any) -> Embedder:
        return build_embedder(base.with_overrides(**changes))

    out: dict[str, Embedder] = {
        "torch": make(embedding_backend="torch"),
        "onnx": make(embedding_backend="onnx"),
        "openvino-bf16": make(embedding_backend="openvino", openvino_precision="bf16"),
        "openvino-f32": make(embedding_backend="openvino", openvino_precision="f32"),
    }
    if levers:
        common = (base.embedding.embedding_model, base.embedding.embedding_dim,
                  base.embedding.embedding_batch_size,
                  base.model_cache_path)
        out["onnx-unfused"] = UnfusedOnnxEmbedder(*common)
        out["onnx-int8"] = Int8OnnxEmbedder(*common)
        for batch in (16, 128):
            out[f"openvino-bf16-batch{batch}"] = make(embedding_backend="openvino",
                                                      embedding_batch_size=batch)
        out["onnx-1thread"] = make(embedding_backend="onnx", embedding_threads=1)
        out["openvino-bf16-maxlen128"] = OpenVinoEmbedder(*common, max_seq_length=128)
    for name, extra in OPENVINO_LEVERS.items():
        if levers or name in ov_levers:
            out[f"openvino-bf16-{name}"] = TunedOpenVinoEmbedder(
                base.embedding.embedding_model, base.embedding.embedding_dim,
                base.embedding.embedding_batch_size,
                base.model_cache_path, extra=extra)
    return out


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):8.2f} [{min(values):.2f}-{max(values):.2f}]"


@contextlib.contextmanager
def cpu_hog(on: bool) -> Iterator[None]:
    """A second CPU-bound job (one process spinning in pure Python) while the block runs."""
    if not on:
        yield
        return
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        yield
    finally:
        hog.kill()
        hog.wait()


def _measure(embedder: Embedder, chunks: list[str], questions: list[str]) -> tuple[float, float]:
    start = time.perf_counter()
    embedder.embed(chunks)
    per_s = len(chunks) / (time.perf_counter() - start)
    lat = []
    for q in questions:
        start = time.perf_counter()
        embedder.embed([q])
        lat.append((time.perf_counter() - start) * 1000)
    return per_s, statistics.median(lat)


def run(repeats: int, n_queries: int, levers: bool, busy: bool,
        ov_levers: tuple[str, ...] = (), n_chunks: int = 0,
        only: tuple[str, ...] = ()) -> dict[str, Any]:
    """Per phase (``quiet``, and ``busy`` beside a CPU hog when asked), per variant: chunks/s
    and query ms of every repeat. The phases alternate inside each repeat, and every variant
    runs in every phase of every repeat, so a change in the machine's load hits them alike."""
    base = Settings(profile="ci")
    chunks, questions = golden_texts(base)
    questions = questions[:n_queries]
    chunks = chunks[:n_chunks] if n_chunks else chunks
    embedders = {name: e for name, e in variants(base, levers, ov_levers).items()
                 if not only or name == "torch" or name in only
                 or name.startswith("openvino-bf16-")}
    ref_chunks = embedders["torch"].embed(chunks)
    phases = ("quiet", "busy") if busy else ("quiet",)
    results: dict[str, Any] = {phase: {} for phase in phases}
    cosine = {}
    for name, embedder in embedders.items():
        embedder.load()
        vectors = embedder.embed(chunks)
        embedder.embed(questions[:3])  # warm-up of the single-text path
        cosine[name] = float(np.min(np.sum(vectors * ref_chunks, axis=1)))
        for phase in phases:
            results[phase][name] = {"chunks_per_s": [], "query_ms": [],
                                    "cosine_min": cosine[name]}
    for _ in range(repeats):
        for phase in phases:
            with cpu_hog(phase == "busy"):
                for name, embedder in embedders.items():
                    per_s, query_ms = _measure(embedder, chunks, questions)
                    results[phase][name]["chunks_per_s"].append(per_s)
                    results[phase][name]["query_ms"].append(query_ms)
    for phase in phases:
        torch = results[phase]["torch"]
        for row in results[phase].values():
            row["throughput_ratio"] = statistics.median(
                a / b for a, b in zip(row["chunks_per_s"], torch["chunks_per_s"], strict=True))
            row["latency_ratio"] = statistics.median(
                a / b for a, b in zip(row["query_ms"], torch["query_ms"], strict=True))
    results["_meta"] = {"chunks": len(chunks), "queries": len(questions), "repeats": repeats,
                        "mean_chunk_tokens": _mean_tokens(chunks), "phases": list(phases)}
    return results


def _mean_tokens(texts: list[str]) -> float:
    from rag_core.tokens import TokenCounter

    return round(float(np.mean(TokenCounter().count_many(texts))), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--queries", type=int, default=20)
    parser.add_argument("--levers", action="store_true")
    parser.add_argument("--ov-lever", action="append", default=[], choices=list(OPENVINO_LEVERS),
                        help="add one OpenVINO property lever (repeatable)")
    parser.add_argument("--busy", action="store_true",
                        help="also measure beside a second CPU-bound job (phases interleaved)")
    parser.add_argument("--chunks", type=int, default=0, help="the first N chunks (0: all)")
    parser.add_argument("--only", action="append", default=[],
                        help="measure torch, the levers and this variant only (repeatable)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results = run(args.repeats, args.queries, args.levers, args.busy, tuple(args.ov_lever),
                  args.chunks, tuple(args.only))
    meta = results.pop("_meta")
    print(f"{meta['chunks']} golden chunks (mean {meta['mean_chunk_tokens']} tokens), "
          f"{meta['queries']} questions one at a time, {meta['repeats']} interleaved repeats; "
          f"{usable_cpus()} usable CPUs, embedding threads {pool_threads(0)}; median [min-max]")
    for phase in meta["phases"]:
        print(f"-- {phase}" + (" (beside one CPU-bound process)" if phase == "busy" else ""))
        print(f"{'variant':26s} {'chunks/s':>22s} {'x torch':>8s} {'query ms':>22s} "
              f"{'x torch':>8s} {'cos min':>8s}")
        for name, row in results[phase].items():
            print(f"{name:26s} {spread(row['chunks_per_s']):>22s} "
                  f"{row['throughput_ratio']:8.2f} {spread(row['query_ms']):>22s} "
                  f"{row['latency_ratio']:8.2f} {row['cosine_min']:8.5f}")
    if args.json:
        args.json.write_text(json.dumps({"meta": meta, "results": results}, indent=1))


if __name__ == "__main__":
    main()
