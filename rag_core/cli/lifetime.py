"""The cyclic collector in a command's own process (``rag-core ...``, ``python -m rag_core``),
not in a program that calls ``main(argv)``: a one-shot command imports most of what it runs
after its arguments are read, and those modules, classes and parts live until it ends."""

from __future__ import annotations

import gc

# Commands that serve until stopped keep the collector's default pace.
SERVERS = ("serve", "mock-llm", "local-llm")


def begin(command: str) -> None:
    """Collecting the young generation every 700 new objects scanned the command's imports
    again and again (~8 % of a cold ``ask``'s CPU); every 10,000 instead: the garbage of a
    long ``ingest`` is still collected, in larger rounds."""
    if command not in SERVERS:
        gc.set_threshold(10_000, *gc.get_threshold()[1:])


def end() -> None:
    """What the command built stays until the process ends: frozen out of the cyclic
    collector, the interpreter's last collections skip it (they cost a cold ``ask`` 0.2-0.3 s
    of CPU after its answer was printed). Memory goes back to the system all the same; exit
    handlers and thread joins run as before."""
    gc.freeze()
