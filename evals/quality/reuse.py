"""Figures of the quality notebook that a knob does not change, kept between runs.

A tuning loop runs the same notebook again with one setting changed. Two of its steps do not
depend on the setting most often tuned, and were the largest part of a second run (at load ~15
on two cores: the sweep 148 s and the safety sets 30 s of a 528 s notebook):

- the top_k x context-budget sweep sets ``top_k`` and ``context_token_budget`` itself, so its
  table is the same whatever those two are; it depends on every other setting, the questions
  and the notes;
- the safety sets' figures (``evals.safety.evaluate.measure_reused``) depend on no Settings field
  given to the notebook, only on the code, the labelled sets and the environment.

Each result is stored as JSON under ``<state_dir>/reuse/`` with a key that hashes everything it
depends on, the source of ``rag_core`` and ``evals`` and the labelled safety sets among them: a
changed line of code, a changed note or question, another setting or another ``RAG_*`` variable
measures again. Nothing is reused across a change; an unreadable entry is measured again.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from io import StringIO
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import pandas as pd

from evals.paths import GOLDEN_DIR, REPO_ROOT
from evals.quality.vectors import folder_of
from rag_core.config import Settings

if TYPE_CHECKING:
    from rag_core.pipeline import Pipeline

T = TypeVar("T")
SWEPT = ("top_k", "context_token_budget")  # the fields the sweep sets itself
FORMAT = 1


@lru_cache(maxsize=1)
def code_digest() -> str:
    """A hash of the code and the labelled sets that every reused figure depends on."""
    h = hashlib.sha256(f"reuse-{FORMAT}".encode())
    files = [*sorted((REPO_ROOT / "rag_core").rglob("*.py")),
             *sorted((REPO_ROOT / "evals").rglob("*.py")),
             *sorted(p for p in (GOLDEN_DIR / "safety").rglob("*") if p.is_file())]
    for path in files:
        h.update(str(path.relative_to(REPO_ROOT)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def _environment() -> dict[str, str]:
    return {k: v for k, v in sorted(os.environ.items()) if k.startswith("RAG_")}


def key_of(*parts: object) -> str:
    """A hash of ``parts`` (JSON, anything else by ``str``), the code and ``RAG_*``."""
    text = json.dumps([code_digest(), _environment(), *parts], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _frame_text(frame: pd.DataFrame) -> str:
    return frame.to_json(orient="split", default_handler=str)


def reused(folder: Path, name: str, key: str, measure: Callable[[], T],
           dump: Callable[[T], object], load: Callable[[object], T]) -> tuple[T, bool]:
    """``measure()``, or what it returned for ``key`` before; True when reused."""
    path = folder / f"{name}-{key}.json"
    if path.is_file():
        try:
            return load(json.loads(path.read_text(encoding="utf-8"))), True
        except (OSError, ValueError, KeyError, TypeError):
            pass  # unreadable: measured again and written over
    value = measure()
    folder.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(dump(value), default=str), encoding="utf-8")
    tmp.replace(path)  # atomic: a second process sees the whole file or none
    return value, False


def sweep_key(settings: Settings, qa: pd.DataFrame, notes: pd.DataFrame, top_ks: Sequence[int],
              budgets: Sequence[int], *, sample: int, seed: int, sanitiser: bool = True) -> str:
    """The sweep's key: every setting but those it sets itself, its grid, sample, seed and
    guard, the questions and the notes (the pipeline and owners follow from them)."""
    fields = {k: v for k, v in settings.flat_dump().items() if k not in SWEPT}
    return key_of("sweep", fields, list(top_ks), list(budgets), sample, seed, sanitiser,
                  _frame_text(qa), _frame_text(notes))


def _frame(data: object) -> pd.DataFrame:
    return pd.read_json(StringIO(json.dumps(data)), orient="split")


def sweep(settings: Settings, qa: pd.DataFrame, notes: pd.DataFrame, top_ks: Sequence[int],
          budgets: Sequence[int], *, sample: int, seed: int, pipeline: Pipeline,
          owners: Mapping[str, str], sanitiser: bool = True) -> tuple[pd.DataFrame, bool]:
    """``evals.quality.evaluate.sweep`` on ``pipeline`` (built with ``sanitiser``), reused when
    nothing but ``top_k`` and ``context_token_budget`` changed since a run that measured it."""
    from evals.quality import evaluate

    key = sweep_key(settings, qa, notes, top_ks, budgets, sample=sample, seed=seed,
                    sanitiser=sanitiser)
    return reused(folder_of(settings), "sweep", key,
                  lambda: evaluate.sweep(settings, qa, top_ks, budgets, sample=sample, seed=seed,
                                         pipeline=pipeline, owners=owners),
                  lambda frame: json.loads(_frame_text(frame)), _frame)
