"""papermill, imported without the grammars that no notebook check uses.

papermill imports nbformat, nbformat imports jsonschema, and jsonschema's format checkers import
``rfc3987_syntax`` when it is installed (jupyterlab's dependencies bring it), which compiles
about 40 lark grammars at import time: 1.5 s of a quiet start and 5.5 s at load ~6 here
(``python -X importtime -c "import papermill"``), paid by every ``python -m evals run`` before
its first notebook. Only the ``iri`` formats of JSON Schema use that module, and the notebook
schema that nbformat validates against has none; so, before the first import of jsonschema in
the runner's process, the module is marked missing and jsonschema leaves those two formats out.
A process that imported jsonschema already keeps what it has.
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
