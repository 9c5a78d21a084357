"""Retrieval quality of the optimised embedders against the PyTorch one.

Two checks, each a table with one row per backend and its nDCG@10 delta to ``torch``:

- ``public_quality``: a BEIR-layout set (read by ``evals.datasets.beir``) embedded by each
  backend and ranked by exact cosine in numpy; no database, since only the embedders differ.
  ``runtime_quality`` runs it on several sets for notebook 02's ``full`` profile, whose gates
  hold every runtime within :data:`TOLERANCE` of torch on each set.
- ``golden_quality``: the golden QA items through the real store (each backend ingests the
  golden notes into a database of its own, then retrieval is scored as in notebook 01).

    python -m evals.retrieval.embed_quality --beir ../shared/beir/cisi --golden
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from evals.datasets import beir
from evals.datasets.arrays import Ids, Vectors
from rag_core.config import Settings

EmbedFn = Callable[[list[str]], Vectors]
BACKENDS = ("torch", "onnx", "openvino")
TOLERANCE = 0.005  # the bound on |nDCG@10 delta| against torch


@dataclass(frozen=True)
class RankingSet:
    """What the exact-cosine check reads of a BEIR set, in a fixed order: the documents (title
    and text, as the store's ingest joins them), the queries with a positive judgement, and
    the graded judgements above 0."""

    doc_ids: list[str]
    doc_texts: list[str]
    query_ids: list[str]
    query_texts: list[str]
    qrels: dict[str, dict[str, int]]  # query id -> doc id -> graded relevance (> 0)

    @classmethod
    def of(cls, ds: beir.BeirSet) -> RankingSet:
        qrels = {q: {d: s for d, s in docs.items() if s > 0} for q, docs in ds.qrels.items()}
        qrels = {q: docs for q, docs in qrels.items() if docs and q in ds.queries}
        query_ids = [q for q in ds.queries if q in qrels]
        return cls(doc_ids=list(ds.corpus),
                   doc_texts=[doc_text(d["title"], d["text"]) for d in ds.corpus.values()],
                   query_ids=query_ids, query_texts=[ds.queries[q] for q in query_ids],
                   qrels=qrels)


def load_beir(folder: str | Path, split: str = "test") -> RankingSet:
    return RankingSet.of(beir.load_beir(folder, split))


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


def mean_ndcg(data: RankingSet, query_vecs: Vectors, doc_vecs: Vectors, k: int = 10
              ) -> float:
    ranked = top_k(query_vecs, doc_vecs, k)
    scores = [ndcg_at_k([data.doc_ids[i] for i in row], data.qrels[qid], k)
              for qid, row in zip(data.query_ids, ranked, strict=True)]
    return float(np.mean(scores)) if scores else float("nan")


def _timed(embed: EmbedFn, texts: list[str]) -> tuple[Vectors, float]:
    start = time.perf_counter()
    vectors = np.asarray(embed(texts), dtype=np.float32)
    return vectors, time.perf_counter() - start


def public_quality(data: RankingSet, embedders: Mapping[str, EmbedFn], k: int = 10,
                   reference: str = "torch") -> pd.DataFrame:
    """nDCG@k per embedder on ``data``, its delta and its cosines to ``reference``."""
    vectors: dict[str, tuple[Vectors, Vectors, float]] = {}
    for name, embed in embedders.items():
        docs, seconds = _timed(embed, data.doc_texts)
        queries, _ = _timed(embed, data.query_texts)
        vectors[name] = (docs, queries, seconds)
    return quality_table(data, vectors, k, reference)


def quality_table(data: RankingSet, vectors: Mapping[str, tuple[Vectors, Vectors, float]],
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


def runtime_quality(names: Sequence[str], embedders: Mapping[str, EmbedFn],
                    data_dir: str | Path | None = None, progress: bool = False
                    ) -> tuple[pd.DataFrame, dict[str, object], dict[str, str]]:
    """:func:`public_quality` on each set of ``names`` found under ``data_dir`` (empty: where
    ``evals.datasets.beir`` looks): the table (a ``set`` column first), its metrics
    (:func:`runtime_metrics`) and the sets skipped with why. ``embedders`` must hold the
    reference ``torch`` (:func:`backend_embedders` adds it)."""
    root = Path(data_dir) if data_dir else beir.find_data_dir(names)
    frames, skipped = [], {}
    for name in tqdm(names, desc="runtimes x sets", disable=not progress):
        ok, why = beir.data_status(root / name)
        if not ok:
            skipped[name] = why
            continue
        table = public_quality(load_beir(root / name), embedders)
        table.insert(0, "set", name)
        frames.append(table)
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return table, runtime_metrics(table), skipped


def runtime_metrics(table: pd.DataFrame) -> dict[str, object]:
    """``<set>.<backend>.ndcg_at_10`` and ``.delta`` per row, and per backend the largest
    |delta| over the sets (``<backend>.max_abs_delta_ndcg_at_10``: what the gates hold)."""
    metrics: dict[str, object] = {}
    if table.empty:
        return metrics
    for row in table.itertuples(index=False):
        per_set = metrics.setdefault(str(row.set), {})
        assert isinstance(per_set, dict)
        per_set[str(row.backend)] = {"ndcg_at_10": float(row.ndcg_at_10),
                                     "delta": float(row.delta)}
    for backend, group in table.groupby("backend", sort=False):
        metrics[str(backend)] = {
            "max_abs_delta_ndcg_at_10": round(float(group["delta"].abs().max()), 5)}
    return metrics


def table_markdown(table: pd.DataFrame) -> str:
    """The runtime table of the summary page: nDCG@10 per set and runtime, delta to torch."""
    lines = ["| set | runtime | nDCG@10 | delta to torch | within 0.005 | docs/s |",
             "|---|---|---|---|---|---|"]
    for r in table.to_dict("records"):
        lines.append(f"| {r['set']} | {r['backend']} | {r['ndcg_at_10']:.5f} | {r['delta']:+.5f} "
                     f"| {'yes' if r['within_tolerance'] else 'NO'} | {r['docs_per_s']:.0f} |")
    return "\n".join(lines)


def backend_embedders(backends: Sequence[str], settings: Settings | None = None
                      ) -> dict[str, EmbedFn]:
    """The real embedders of ``backends`` and of the reference ``torch``, from Settings
    (``settings``: the base, so a runtime is scored with its configured precision)."""
    from rag_core.embedding import build_embedder

    base = settings or Settings(profile="ci")
    wanted = ["torch", *(b for b in backends if b != "torch")]
    return {b: build_embedder(base.with_overrides(embedding_backend=b)).embed for b in wanted}


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
        assert settings.services.database_url is not None
        url = services.ensure_database(settings.services.database_url, f"embed_quality_{backend}")
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
