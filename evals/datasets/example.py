"""``python -m evals init-dataset DIR``: a small dataset of another domain to start from.

The example (``evals/datasets/example/``) is a community bike co-op's notes: a workshop lead's
repair-night notes and a chair's board minutes, 6 notes each, 30 questions (22 answerable
across factual, metadata and synthesis; 8 the notes cannot answer), 10 semantic pairs, a
three-day query log with one note edit, and a ``gates.toml`` that sets thresholds for a set this
small. Every file is in the format the harness reads (``evals.datasets.loader``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from evals.datasets.loader import DatasetError

EXAMPLE_DIR = Path(__file__).resolve().parent / "example"


def write_example(folder: str | Path) -> Path:
    """Copy the example into ``folder`` (new or empty); returns it."""
    target = Path(folder)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise DatasetError("DATASET_EXISTS", f"{target} exists and is not an empty folder")
    shutil.copytree(EXAMPLE_DIR, target, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__"))
    return target
