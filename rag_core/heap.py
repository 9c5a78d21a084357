"""The cyclic garbage collector in a serving worker.

A full collection walks every object the process holds and no request moves while it runs.
Once a worker has loaded what it serves with (the app, spaCy, the embedding runtime, the
safety patterns), that walk took 40-70 ms on this machine (benchmarks/bench_tracing.py's
process, `gc.callbacks`), several times in a run of a few hundred questions: a pause that lands on
whichever answers are in flight, in their p99. What a worker loads at start lives as long as it
does, so once ready it is frozen out of the collector (``settle``): a full collection then walks
only what came after. Reference counting frees frozen objects as before; only cycles among them
wait. ``thaw`` gives them back when the app stops; ``refreeze`` after a large loaded part is
replaced (spaCy's pipeline, reloaded once its vocabulary has grown) lets the collector reclaim
the old one, at the cost of one full collection.
"""

from __future__ import annotations

import gc


def settle() -> None:
    """Collect what startup left behind, then freeze the rest (see the module docstring)."""
    gc.collect()
    gc.freeze()


def thaw() -> None:
    """Frozen objects back to the oldest generation: the collector sees them again."""
    gc.unfreeze()


def refreeze() -> None:
    """After a frozen part was replaced: collect it and freeze what is left. Nothing to do in a
    process that never settled (a test, a one-shot command)."""
    if gc.get_freeze_count():
        gc.unfreeze()
        settle()
