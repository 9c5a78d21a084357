"""Retrieval quality of the optimised embedders against the PyTorch one (issue 18).

Two checks, each a table with one row per backend and its nDCG@10 delta to ``torch``:

- ``public_quality``: a BEIR-format set (``corpus.jsonl``, ``queries.jsonl``,
  ``qrels/<split>.tsv``) embedded by each backend and ranked by exact cosine in numpy; no
  database, since only the embedders differ. The loader is deliberately small so that it can be
  swapped for ``evals/datasets/beir.py`` later. The data stays out of git
  (``.rag_state/beir/<name>``).
- ``golden_quality``: the golden QA items through the real store (each backend ingests the
  golden notes into a database of its own, then retrieval is scored as in notebook 01).

    python -m evals.retrieval.embed_quality --beir .rag_state/beir/nfcorpus --golden
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from evals.datasets.arrays import Ids, Vectors
from rag_core.config import Settings

EmbedFn = Callable[[list[str]], Vectors]
BACKENDS = ("torch", "onnx", "openvino")
TOLERANCE = 0.005  # the bound on |nDCG@10 delta| against torch


@dataclass
class BeirSet:
    doc_ids: list[str]
    doc_texts: list[str]
    query_ids: list[str]
    query_texts: list[str]
    qrels: dict[str, dict[str, int]]  # query id -> doc id -> graded relevance (> 0)


def load_beir(folder: str | Path, split: str = "test") -> BeirSet:
    """A BEIR folder: only queries with at least one relevant document are kept."""
    root = Path(folder)
    qrels: dict[str, dict[str, int]] = {}
    with (root / "qrels" / f"{split}.tsv").open() as fh:
        next(fh)  # header
        for line in fh:
            qid, did, score = line.rstrip("\n").split("\t")[:3]
            if int(score) > 0:
                qrels.setdefault(qid, {})[did] = int(score)
    docs = [json.loads(line) for line in (root / "corpus.jsonl").open() if line.strip()]
    queries = [json.loads(line) for line in (root / "queries.jsonl").open() if line.strip()]
    queries = [q for q in queries if q["_id"] in qrels]
    return BeirSet(
        doc_ids=[d["_id"] for d in docs],
        doc_texts=[doc_text(d.get("title", ""), d.get("text", "")) for d in docs],
        query_ids=[q["_id"] for q in queries], query_texts=[q["text"] for q in queries],
        qrels=qrels)


def doc_text(title: str, text: str) -> str:
    return f"{title}\n\n{text}" if title else text


def ndcg_at_k(ranked: Sequence[str], gains: Mapping[str, int], k: int = 10) -> float:
    """Graded nDCG@k (gain = relevance, log2 discount), 0 when nothing is relevant."""
    dcg = sum(gains.get(doc, 0) / math.log2(rank + 1)
              for rank, doc in enumerate(ranked[:k], start=1))
    ideal_gains = sorted((g for g in gains.values() if g > 0), reverse=True)[:k]
    ideal = sum(g / math.log2(rank + 1) for rank, g in enumerate(ideal_gains, start=1))
    return dcg / ideal if ideal > 0 else 0.0


def top_k(queries: Vectors, docs: Vectors, k: int) -> Ids:
    """Indices of the ``k`` most similar docs per query, best first (unit vectors: dot)."""
    k = min(k, docs.shape[0])
    scores = queries @ docs.T
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


def mean_ndcg(data: BeirSet, query_vecs: Vectors, doc_vecs: Vectors, k: int = 10
              ) -> float:
    ranked = top_k(query_vecs, doc_vecs, k)
    scores = [ndcg_at_k([data.doc_ids[i] for i in row], data.qrels[qid], k)
              for qid, row in zip(data.query_ids, ranked, strict=True)]
    return float(np.mean(scores)) if scores else float("nan")


def _timed(embed: EmbedFn, texts: list[str]) -> tuple[Vectors, float]:
    start = time.perf_counter()
    vectors = np.asarray(embed(texts), dtype=np.float32)
    return vectors, time.perf_counter() - start


def public_quality(data: BeirSet, embedders: Mapping[str, EmbedFn], k: int = 10,
                   reference: str = "torch") -> pd.DataFrame:
    """nDCG@k per embedder on ``data``, its delta and its cosines to ``reference``."""
    vectors: dict[str, tuple[Vectors, Vectors, float]] = {}
    for name, embed in embedders.items():
        docs, seconds = _timed(embed, data.doc_texts)
        queries, _ = _timed(embed, data.query_texts)
        vectors[name] = (docs, queries, seconds)
    return quality_table(data, vectors, k, reference)


def quality_table(data: BeirSet, vectors: Mapping[str, tuple[Vectors, Vectors, float]],
                  k: int = 10, reference: str = "torch") -> pd.DataFrame:
    """The table of :func:`public_quality` from vectors already computed (pure)."""
    ref_docs, ref_queries, _ = vectors[reference]
    base = mean_ndcg(data, ref_queries, ref_docs, k)
    rows = []
    for name, (docs, queries, seconds) in vectors.items():
        score = mean_ndcg(data, queries, docs, k)
        doc_cos = np.sum(docs * ref_docs, axis=1)
        query_cos = np.sum(queries * ref_queries, axis=1)
        rows.append({
            "backend": name, f"ndcg_at_{k}": round(score, 5),
            "delta": round(score - base, 5), "within_tolerance": abs(score - base) <= TOLERANCE,
            "doc_cosine_min": round(float(doc_cos.min()), 6),
            "query_cosine_min": round(float(query_cos.min()), 6),
            "docs_per_s": round(len(docs) / seconds, 1) if seconds > 0 else float("nan"),
        })
    return pd.DataFrame(rows)


def backend_embedders(backends: Sequence[str], settings: Settings | None = None
                      ) -> dict[str, EmbedFn]:
    """The real embedders of ``backends`` from Settings (``settings``: the base)."""
    from rag_core.embedding import build_embedder

    base = settings or Settings(profile="ci")
    return {b: build_embedder(base.with_overrides(embedding_backend=b)).embed for b in backends}


def golden_quality(backends: Sequence[str] = BACKENDS, modes: Sequence[str] = ("dense", "hybrid"),
                   state_dir: str | Path | None = None, progress: bool = False) -> pd.DataFrame:
    """Golden retrieval nDCG@10 through the store, one database per backend."""
    from evals.datasets import golden
    from evals.quality.evaluate import build_pipeline, eval_settings
    from evals.retrieval.modes import compare_modes
    from rag_core import services

    qa = golden.load_qa()
    rows = []
    for backend in backends:
        settings = services.resolve(eval_settings(state_dir=state_dir,
                                                  embedding_backend=backend))
        assert settings.database_url is not None
        url = services.ensure_database(settings.database_url, f"embed_quality_{backend}")
        pipe = build_pipeline(settings.with_overrides(database_url=url))
        golden.ensure_ingested(pipe)
        frame = compare_modes(pipe, qa, modes, progress=progress)
        for mode, group in frame.groupby("mode", sort=False):
            rows.append({"backend": backend, "mode": mode, "n": len(group),
                         "ndcg_at_10": round(float(group["ndcg_at_10"].mean()), 5)})
        pipe.parts.close()
    table = pd.DataFrame(rows)
    ref = table[table["backend"] == "torch"].set_index("mode")["ndcg_at_10"]
    if not ref.empty:
        table["delta"] = [round(r.ndcg_at_10 - ref.get(r.mode, np.nan), 5)
                          for r in table.itertuples()]
        table["within_tolerance"] = table["delta"].abs() <= TOLERANCE
    return table


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--beir", type=Path, help="a BEIR-format folder")
    parser.add_argument("--split", default="test")
    parser.add_argument("--golden", action="store_true", help="also the golden set via the store")
    parser.add_argument("--backends", default=",".join(BACKENDS))
    args = parser.parse_args(argv)
    backends = [b for b in args.backends.split(",") if b]
    if "torch" not in backends:
        backends.insert(0, "torch")
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        if args.beir:
            data = load_beir(args.beir, args.split)
            print(f"{args.beir.name}: {len(data.doc_ids)} docs, {len(data.query_ids)} queries")
            print(public_quality(data, backend_embedders(backends)).to_string(index=False))
        if args.golden:
            print("golden (through the store):")
            print(golden_quality(backends).to_string(index=False))


if __name__ == "__main__":
    main()
