"""Where the repository's folders are, wherever the caller's working directory is."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
GOLDEN_DIR = REPO_ROOT / "golden"
REPORTS_DIR = REPO_ROOT / "reports"
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
STATE_DIR = REPO_ROOT / ".rag_state"
GATES_FILE = Path(__file__).resolve().parent / "gates.toml"
