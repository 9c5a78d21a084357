"""A pytest plugin that records each test's process memory: where the suite's memory goes.

    python -m pytest -p rss_per_test tests/DIR   (with benchmarks/ on PYTHONPATH)

After every test it reads this process's resident set (``VmRSS``) and its children's, and at
the end prints the tests after which the process grew most, and the final size. With
``RSS_PER_TEST_CSV=path`` every row goes to that file. A figure for finding causes, not a
test: nothing is asserted.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from bench_memory import rss_kb, sample

_rows: list[tuple[str, int, int, str]] = []


def _loaded() -> str:
    """What big things this process holds now: embedding runtimes, torch models, spaCy."""
    import sys

    held = []
    runtimes = sys.modules.get("rag_core.embedding.runtimes")
    if runtimes is not None:
        held.append(f"runtimes={len(runtimes._runtimes)}")
    st = sys.modules.get("rag_core.embedding.sentence_transformer")
    if st is not None:
        held.append(f"torch_models={len(st._models)}")
    nlp = sys.modules.get("rag_core.text.nlp")
    if nlp is not None and nlp._nlp is not None:
        held.append("spacy")
    held += [name for name in ("torch", "openvino", "onnxruntime", "transformers")
             if name in sys.modules]
    return " ".join(held)
_last = [0]


@pytest.hookimpl(trylast=True)
def pytest_runtest_logfinish(nodeid: str, location: Any) -> None:
    own, _ = rss_kb(os.getpid())
    tree_kb, _ = sample(os.getpid())
    _rows.append((nodeid, own, tree_kb, _loaded()))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _rows:
        return
    jumps, last = [], 0
    for nodeid, own, tree_kb, held in _rows:
        jumps.append((own - last, nodeid, own, tree_kb, held))
        last = own
    jumps.sort(reverse=True)
    write = terminalreporter.write_line
    write(f"rss per test: {len(_rows)} tests, process {_rows[-1][1] // 1024} MB at the end, "
          f"peak {max(r[1] for r in _rows) // 1024} MB; tree peak "
          f"{max(r[2] for r in _rows) // 1024} MB")
    for delta, nodeid, own, tree_kb, held in jumps[:15]:
        write(f"  +{delta // 1024:5d} MB -> {own // 1024:5d} MB (tree {tree_kb // 1024}) {nodeid}"
              f" [{held}]")
    out = os.environ.get("RSS_PER_TEST_CSV")
    if out:
        with Path(out).open("w") as fh:
            fh.write("test,process_mb,tree_mb,held\n")
            for nodeid, own, tree_kb, held in _rows:
                fh.write(f"{nodeid},{own // 1024},{tree_kb // 1024},{held}\n")
