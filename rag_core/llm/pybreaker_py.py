"""pybreaker, imported for the whole package here: ``rag_core.llm`` takes it from this module,
never by an ``import pybreaker`` of its own.

pybreaker imports Tornado when it is installed (Tornado's coroutines, its logging and curses),
for ``call_async``, Tornado coroutines through the breaker; this service calls ``call`` only.
That costs about 10 ms of CPU: 64-66 against 48-58 ms for pybreaker's import in 5 fresh
processes each, redis-py imported through ``redis_py`` first (2026-11-28). pybreaker is
imported as on a host without Tornado (``lean_imports.import_without``); Tornado stays
importable, and a process that imported it first (a notebook's kernel) keeps pybreaker's
Tornado support.
"""

from __future__ import annotations

from rag_core.lean_imports import import_without
from rag_core.redis_kv import redis_py  # noqa: F401  (pybreaker imports redis-py: ours first)

import_without("pybreaker", "tornado")

import pybreaker  # noqa: E402

__all__ = ["pybreaker"]
