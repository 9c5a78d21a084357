"""A tiny stand-in for the quality notebook (a real kernel, papermill): it writes the rows and
metrics the quality notebook writes, for a dataset's questions, with its first ``misses``
questions' reference notes not retrieved. Runner tests judge its questions in seconds."""

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

from evals.profiles import NotebookSpec

CELL = """
import pandas as pd
from evals.datasets import resolve
from evals.report import record
ds = resolve(dataset)
rows = []
for i, item in enumerate(ds.qa.to_dict("records")):
    hit = i >= misses
    refs = list(item["reference_note_ids"])
    rows.append({"id": item["id"], "user_id": item["user_id"], "scenario": item["scenario"],
                 "question": item["question"], "split": "test",
                 "answer": "answer %d %s" % (i, "found" if hit else "lost"),
                 "no_context": bool(item["expect_no_context"]),
                 "expect_no_context": bool(item["expect_no_context"]),
                 "reference_note_ids": refs,
                 "retrieved_note_ids": refs if hit else ["elsewhere"],
                 "cited_note_ids": [], "cross_user_leak": 0.0, "leak": 0.0,
                 "citation_valid": None, "injection_success": None,
                 "recall_at_5": (1.0 if hit else 0.0) if refs else None})
frame = pd.DataFrame(rows)
record.save_rows(frame, output_dir, "quality")
record.record("quality", {"cross_user_leaks": 0, "semantic_similarity": 0.3, "n": len(frame),
                          "leak_rate": float(frame["leak"].mean()),
                          "recall_at_5": float(frame["recall_at_5"].mean())}, output_dir)
"""




def tiny_quality(folder: Path) -> NotebookSpec:
    """The notebook written into ``folder`` and its spec (name ``quality``)."""
    nb = new_notebook(cells=[
        new_code_cell("misses = 0\ndataset = ''\noutput_dir = ''",
                      metadata={"tags": ["parameters"]}),
        new_code_cell(CELL)], metadata={"kernelspec": {"name": "python3",
                                                     "display_name": "Python 3",
                                                     "language": "python"}})
    path = folder / "quality.ipynb"
    nbformat.write(nb, path)
    return NotebookSpec("quality", str(path), {"ci": {}, "tune": {}})
