"""spaCy imported without torch: thinc, spaCy's layer library, imports torch whenever it is
installed, which cost a cold ``rag-core ask`` about 2.5 s, and the pipeline never uses it."""

from __future__ import annotations

import importlib.abc
import sys
import threading
from typing import Any


class _Hidden(importlib.abc.MetaPathFinder):
    """Refuses ``names`` (and their submodules) to imports made by one thread, as if they were
    not installed; other threads import them as usual."""

    def __init__(self, names: frozenset[str]) -> None:
        self.names = names
        self.thread = threading.get_ident()

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> None:
        if threading.get_ident() == self.thread and fullname.partition(".")[0] in self.names:
            raise ModuleNotFoundError(f"No module named {fullname!r} (hidden)", name=fullname)
        return None


def import_spacy() -> Any:
    """spaCy, imported while torch is hidden from this thread when no one imported it yet
    (``thinc.compat`` tries ``import torch`` and has no switch; it then records torch as
    missing, and a later ``import torch`` works as before)."""
    hidden = _Hidden(frozenset({"torch"}))
    if "torch" not in sys.modules:
        sys.meta_path.insert(0, hidden)
    try:
        import spacy

        return spacy
    finally:
        if hidden in sys.meta_path:
            sys.meta_path.remove(hidden)
