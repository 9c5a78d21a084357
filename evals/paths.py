"""Where the repository's folders are, wherever the caller's working directory is."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
GOLDEN_DIR = REPO_ROOT / "golden"
REPORTS_DIR = REPO_ROOT / "reports"
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
STATE_DIR = REPO_ROOT / ".rag_state"
GATES_FILE = Path(__file__).resolve().parent / "gates.toml"


def shared_dir() -> Path:
    """The team's shared data beside the checkout (``../shared``, as CI has it), or
    ``RAG_SHARED_DIR`` where it lives elsewhere."""
    import os

    return Path(os.environ.get("RAG_SHARED_DIR") or REPO_ROOT.parent / "shared")


def external_dir() -> Path:
    """The evaluation set written outside the team (``../shared/eval-external``)."""
    return shared_dir() / "eval-external"
