"""Embedding throughput and query latency per runtime, and the levers tried (issue 18).

    python benchmarks/bench_embed.py [--repeats 5] [--queries 20] [--levers] [--json out.json]

Texts: the golden notes as ingestion embeds them (200-token chunks with their metadata
header) and the golden questions one at a time (a query embed of a miss). Every variant is
measured in every repeat, interleaved, so that a busy machine slows them alike; the figures are
medians over repeats with the spread (min-max), and ratios against torch are the medians of
the per-repeat ratios. ``--levers`` adds the variants of the lever table: ONNX Runtime without
its fusions, dynamic int8, batch size, threads and a shorter max sequence length.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from rag_core.config import Settings
from rag_core.embedding import Embedder, build_embedder
from rag_core.embedding.runtimes import OnnxRuntimeEmbedder, onnxruntime_session

GOLDEN = Path(__file__).resolve().parents[1] / "golden"


def golden_texts(settings: Settings) -> tuple[list[str], list[str]]:
    from evals.datasets.golden import load_qa
    from rag_core.ingest.chunking import chunk_note, embedding_text
    from rag_core.ingest.notes import load_notes
    from rag_core.tokens import TokenCounter

    counter = TokenCounter()
    notes = [n for user in sorted((GOLDEN / "notes").iterdir()) for n in load_notes(user)]
    chunks = [embedding_text(n, c.text) for n in notes
              for c in chunk_note(n, counter, settings.chunk_tokens,
                                  settings.chunk_overlap_tokens)]
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


class UnfusedOnnxEmbedder(OnnxRuntimeEmbedder):
    """ONNX Runtime on the exported graph without the transformer fusions."""

    variant = "raw"


def variants(base: Settings, levers: bool) -> dict[str, Embedder]:
    def make(**changes: Any) -> Embedder:
        return build_embedder(base.with_overrides(**changes))

    out: dict[str, Embedder] = {
        "torch": make(embedding_backend="torch"),
        "onnx": make(embedding_backend="onnx"),
        "openvino-bf16": make(embedding_backend="openvino", openvino_precision="bf16"),
        "openvino-f32": make(embedding_backend="openvino", openvino_precision="f32"),
    }
    if levers:
        common = (base.embedding_model, base.embedding_dim, base.embedding_batch_size,
                  base.model_cache_path)
        out["onnx-unfused"] = UnfusedOnnxEmbedder(*common)
        out["onnx-int8"] = Int8OnnxEmbedder(*common)
        for batch in (16, 128):
            out[f"openvino-bf16-batch{batch}"] = make(embedding_backend="openvino",
                                                      embedding_batch_size=batch)
        out["openvino-bf16-1thread"] = make(embedding_backend="openvino", embedding_threads=1)
        out["onnx-1thread"] = make(embedding_backend="onnx", embedding_threads=1)
        from rag_core.embedding.runtimes import OpenVinoEmbedder

        out["openvino-bf16-maxlen128"] = OpenVinoEmbedder(*common, max_seq_length=128)
    return out


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):8.2f} [{min(values):.2f}-{max(values):.2f}]"


def run(repeats: int, n_queries: int, levers: bool) -> dict[str, dict[str, Any]]:
    base = Settings(profile="ci")
    chunks, questions = golden_texts(base)
    questions = questions[:n_queries]
    embedders = variants(base, levers)
    ref_chunks = embedders["torch"].embed(chunks)
    results: dict[str, dict[str, Any]] = {}
    for name, embedder in embedders.items():
        embedder.load()
        vectors = embedder.embed(chunks)
        embedder.embed(questions[:3])  # warm-up of the single-text path
        results[name] = {"chunks_per_s": [], "query_ms": [],
                         "cosine_min": float(np.min(np.sum(vectors * ref_chunks, axis=1)))}
    for _ in range(repeats):
        for name, embedder in embedders.items():
            start = time.perf_counter()
            embedder.embed(chunks)
            results[name]["chunks_per_s"].append(len(chunks) / (time.perf_counter() - start))
            lat = []
            for q in questions:
                start = time.perf_counter()
                embedder.embed([q])
                lat.append((time.perf_counter() - start) * 1000)
            results[name]["query_ms"].append(statistics.median(lat))
    torch = results["torch"]
    for row in results.values():
        row["throughput_ratio"] = statistics.median(
            a / b for a, b in zip(row["chunks_per_s"], torch["chunks_per_s"], strict=True))
        row["latency_ratio"] = statistics.median(
            a / b for a, b in zip(row["query_ms"], torch["query_ms"], strict=True))
    results["_meta"] = {"chunks": len(chunks), "queries": len(questions), "repeats": repeats,
                        "mean_chunk_tokens": _mean_tokens(chunks)}
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
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results = run(args.repeats, args.queries, args.levers)
    meta = results.pop("_meta")
    print(f"{meta['chunks']} golden chunks (mean {meta['mean_chunk_tokens']} tokens), "
          f"{meta['queries']} questions one at a time, {meta['repeats']} interleaved repeats; "
          "median [min-max]")
    print(f"{'variant':26s} {'chunks/s':>22s} {'x torch':>8s} {'query ms':>22s} "
          f"{'x torch':>8s} {'cos min':>8s}")
    for name, row in results.items():
        print(f"{name:26s} {spread(row['chunks_per_s']):>22s} {row['throughput_ratio']:8.2f} "
              f"{spread(row['query_ms']):>22s} {row['latency_ratio']:8.2f} "
              f"{row['cosine_min']:8.5f}")
    if args.json:
        args.json.write_text(json.dumps({"meta": meta, "results": results}, indent=1))


if __name__ == "__main__":
    main()
