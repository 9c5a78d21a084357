"""Libraries imported without the parts of them this service never uses, whose import every
command that loads the library paid.

Two ways, for two shapes of what is left out:

- ``import_without``: a package the library imports only to offer an extra, inside a guarded
  import (redis-py's OpenTelemetry metrics, pybreaker's Tornado coroutines). It is marked
  missing in ``sys.modules`` while the library imports, which refuses a dotted name before its
  parents are imported (a finder would be asked only after them).
- ``import_spacy``: spaCy without torch and without its command line. thinc, spaCy's layer
  library, imports torch whenever it is installed, and the pipeline never uses it; torch is
  hidden from this thread only (a finder), so another thread that imports torch meanwhile
  gets it. ``import spacy`` also imports
  ``spacy.cli`` for one name (``spacy.info``), and with it the HTTP clients, rich, pygments,
  typer and jinja2 of its download and project commands (about half of spaCy's import).

What each buys, in CPU per fresh process (``python benchmarks/bench_import_shims.py``,
2026-11-28, a machine shared at load 11-13; median and range): ``import spacy`` 1,812 ms
(1,767-1,885) against 308 ms (303-326) for ``import_spacy()``, 3 processes each; the model's
load with the entry points grouped (``_group_entry_points``) 332 ms (331-353) against 408 ms
(387-425) with catalogue's own lookups, 3 each. ``import_without``'s figures are in the modules
that use it (``redis_kv.redis_py``, ``llm.pybreaker_py``).
"""


from __future__ import annotations

import importlib
import importlib.abc
import sys
import threading
from types import ModuleType
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


def _info(*args: Any, **kwargs: Any) -> Any:
    """``spacy.info``, its command line imported when called."""
    return importlib.import_module("spacy.cli.info").info(*args, **kwargs)


def _cli_placeholders() -> dict[str, ModuleType]:
    """What ``import spacy`` takes from ``spacy.cli`` (``from .cli.info import info``), without
    importing the command line; removed again once spaCy is in (a later ``import spacy.cli``
    imports the real one)."""
    if "spacy" in sys.modules or "spacy.cli" in sys.modules:
        return {}
    cli, info = ModuleType("spacy.cli"), ModuleType("spacy.cli.info")
    cli.__path__ = []
    info.info = _info  # type: ignore[attr-defined]
    return {"spacy.cli": cli, "spacy.cli.info": info}


def import_spacy() -> Any:
    """spaCy, imported while torch is hidden from this thread when no one imported it yet
    (``thinc.compat`` tries ``import torch`` and has no switch; it then records torch as
    missing, and a later ``import torch`` works as before), and without its command line
    (``_cli_placeholders``)."""
    hidden = _Hidden(frozenset({"torch"}))
    if "torch" not in sys.modules:
        sys.meta_path.insert(0, hidden)
    placeholders = _cli_placeholders()
    sys.modules.update(placeholders)
    try:
        import spacy

        _group_entry_points()
        return spacy
    finally:
        for name, module in placeholders.items():
            if sys.modules.get(name) is module:
                del sys.modules[name]
        if hidden in sys.meta_path:
            sys.meta_path.remove(hidden)


def _group_entry_points() -> None:
    """The installed entry points grouped once for spaCy's registries (``catalogue``): it
    looks up one group over a hundred times while a model loads, and each lookup scanned every
    entry point of every distribution (about 75 ms of a cold question's CPU: the module's
    docstring). catalogue reads
    a plain dict of group to entry points as it is."""
    import warnings

    import catalogue

    found = catalogue.AVAILABLE_ENTRY_POINTS
    if isinstance(found, dict) and type(found) is not dict:  # importlib's SelectableGroups
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # its dict interface
            catalogue.AVAILABLE_ENTRY_POINTS = {g: list(eps) for g, eps in found.items()}


def import_without(module: str, optional: str) -> None:
    """Import ``module`` (a library) as on a host without ``optional``, a package that it
    imports only to offer an extra, inside a guarded import; nothing happens when either is
    imported already. ``optional`` stays importable afterwards. For extras this service never
    uses whose import every command that loads the library paid: redis-py's OpenTelemetry
    metrics (``rag_core.redis_kv.redis_py``), pybreaker's Tornado coroutines
    (``rag_core.llm.pybreaker_py``)."""
    if module in sys.modules or optional in sys.modules:
        return
    sys.modules[optional] = None  # type: ignore[assignment]  # an import of it: ImportError
    try:
        importlib.import_module(module)
    finally:
        if sys.modules.get(optional, 0) is None:
            del sys.modules[optional]
