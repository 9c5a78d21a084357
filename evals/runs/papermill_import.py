"""papermill, imported without the grammars that no notebook check uses.

papermill imports nbformat, nbformat imports jsonschema, and jsonschema's format checkers import
``rfc3987_syntax`` when it is installed (jupyterlab's dependencies bring it), which compiles
about 40 lark grammars at import time, paid by every ``python -m evals run`` before its first
notebook: ``import papermill`` 1,561 ms of CPU (1,537-1,607) against 453 ms (425-482) through
``papermill()``, the median and range of 3 fresh processes each (``python
benchmarks/bench_import_shims.py papermill``, 2026-11-28, a machine shared at load 12). Only the
``iri`` formats of JSON Schema use that module, and the notebook schema that nbformat validates
against has none; so, before the first import of jsonschema in the runner's process, the module
is marked missing and jsonschema leaves those two formats out. A process that imported
jsonschema already keeps what it has.
"""

from __future__ import annotations

import sys
from types import ModuleType

SKIPPED = "rfc3987_syntax"


def papermill() -> ModuleType:
    """The papermill module (imported once per process)."""
    if "jsonschema" not in sys.modules:
        sys.modules.setdefault(SKIPPED, None)  # type: ignore[arg-type]  # import -> ImportError
    import papermill as module

    return module
