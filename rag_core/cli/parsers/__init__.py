"""The arguments of every ``rag-core`` subcommand, one module per module of commands
(``rag_core/cli/parsers/backup.py`` for ``rag_core/cli/backup.py``), each with a
``register(add)``. These modules import only what an argument needs (argparse, the argument
types of ``rag_core.cli.args``), so ``rag-core --help`` and a light command read them all; a
command names the function it runs as ``"module:function"`` of ``rag_core.cli``, whose module
``rag_core.cli.main`` imports only when that command runs."""

from __future__ import annotations

import argparse
from collections.abc import Callable

# add(name, "module:function" of rag_core.cli that runs it, help) -> the subcommand's parser,
# to add its arguments to
Add = Callable[[str, str, str], argparse.ArgumentParser]
