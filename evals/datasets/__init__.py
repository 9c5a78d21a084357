"""Datasets the harness evaluates: the golden set (the default) or a folder of one's own, and
the other data it reads (public BEIR collections, the synthetic corpus, query logs, the split).

One shape for every part of the harness (``evals.datasets.loader`` reads it)::

    <name>/
      notes/<user>/        Markdown with front matter, or JSON lines (as `rag-core ingest` reads)
      qa.jsonl | qa/*.jsonl                      questions with their reference notes and answer
      semantic_pairs.jsonl | semantic_pairs/*.jsonl   optional: pairs for the semantic cache
      query_log.jsonl                            optional: traffic (ts, user, question; edits)
      gates.toml                                 optional: thresholds that replace the defaults

``python -m evals init-dataset DIR`` writes a small example to start from.
"""

from evals.datasets.loader import (
    DatasetError,
    EvalDataset,
    default_dataset,
    load_dataset,
    resolve,
)

__all__ = ["DatasetError", "EvalDataset", "default_dataset", "load_dataset", "resolve"]
