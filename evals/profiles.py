"""Profiles: which notebooks a run executes, and with which parameters.

Adding a notebook is one ``NotebookSpec`` entry: its results prefix (the ``name`` that its
``record(...)`` call uses, and the first part of its metric names), its path, and the
parameters per profile. A notebook runs in the profiles that its ``params`` name. The runner
adds ``output_dir``; ``--param NAME=VALUE`` overrides a parameter of every selected notebook
that declares it. ``tests/evals/test_profiles.py`` checks every parameter against the
notebook's ``parameters`` cell with ``papermill.inspect_notebook``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evals.paths import REPO_ROOT

PROFILES = ("ci", "full")


@dataclass(frozen=True)
class NotebookSpec:
    name: str
    path: str
    params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    description: str = ""

    @property
    def file(self) -> Path:
        return REPO_ROOT / self.path

    @property
    def stem(self) -> str:
        return Path(self.path).stem

    def in_profile(self, profile: str) -> bool:
        return profile in self.params


NOTEBOOKS: tuple[NotebookSpec, ...] = (
    NotebookSpec(
        name="quality",
        path="notebooks/01_quality_eval.ipynb",
        description="answer and retrieval quality on the golden QA set, guard behaviour",
        params={
            "ci": {
                "sample": 0,
                "top_k": 5,
                "context_budget": 1200,
                "sweep_top_k": [1, 3, 5, 8],
                "sweep_context_budget": [300, 1200],
                "sweep_sample": 60,
                "seed": 7,
            },
            "full": {
                "sample": 0,
                "top_k": 5,
                "context_budget": 1200,
                "sweep_top_k": [1, 2, 3, 5, 8, 10],
                "sweep_context_budget": [200, 400, 800, 1200, 2000],
                "sweep_sample": 0,
                "seed": 7,
            },
        },
    ),
)


def check_profile(profile: str) -> None:
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")


def find(name: str, notebooks: Iterable[NotebookSpec] = NOTEBOOKS) -> NotebookSpec:
    """A notebook by results name (``quality``), file stem or path."""
    for spec in notebooks:
        if name in (spec.name, spec.stem, spec.path, Path(spec.path).name):
            return spec
    known = ", ".join(s.name for s in notebooks)
    raise ValueError(f"no notebook named {name!r}; known: {known}")


def notebooks_for(profile: str, only: Iterable[str] = (),
                  notebooks: Iterable[NotebookSpec] = NOTEBOOKS) -> list[NotebookSpec]:
    """The notebooks of ``profile`` in order, or just those named in ``only``."""
    check_profile(profile)
    pool = [s for s in notebooks if s.in_profile(profile)]
    wanted = list(only)
    if not wanted:
        return pool
    picked = [find(n, notebooks) for n in wanted]
    outside = [s.name for s in picked if s not in pool]
    if outside:
        raise ValueError(f"not in profile {profile!r}: {', '.join(outside)}")
    return [s for s in pool if s in picked]


def parameters(spec: NotebookSpec, profile: str, output_dir: str | Path,
               overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The papermill parameters of one notebook run (``overrides`` already filtered)."""
    params = {**spec.params[profile], **dict(overrides or {})}
    params["output_dir"] = str(output_dir)
    return params
