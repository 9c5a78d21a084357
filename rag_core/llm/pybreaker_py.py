"""pybreaker, imported for the whole package here: ``rag_core.llm`` takes it from this module,
never by an ``import pybreaker`` of its own.

pybreaker imports Tornado when it is installed (Tornado's coroutines, its logging and curses),
for ``call_async``, Tornado coroutines through the breaker; this service calls ``call`` only.
That costs about 9 ms of CPU: ``import pybreaker`` 9.6 ms (8.7-10.6) against 0.7 ms (0.7-0.9)
through ``import_without``, the median and range of 7 fresh processes each, redis-py imported
through ``redis_py`` first and not counted (``python benchmarks/bench_import_shims.py
pybreaker``, 2026-11-28; the 64-66 against 48-58 ms stated before were not pybreaker's import
alone: redis-py's alone is about 50 ms). pybreaker is imported as on a host without Tornado
(``lean_imports.import_without``); Tornado stays importable, and a process that imported it
first (a notebook's kernel) keeps pybreaker's Tornado support.
"""

from __future__ import annotations

from rag_core.lean_imports import import_without
from rag_core.redis_kv import redis_py  # noqa: F401  (pybreaker imports redis-py: ours first)

import_without("pybreaker", "tornado")

import pybreaker  # noqa: E402

__all__ = ["pybreaker"]
