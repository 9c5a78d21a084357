"""What the modules of ``rag-core``'s commands share: the settings of a command, every part for
one command, and JSON on stdout (the type of ``add``, how a module registers its subcommands in
``register(add)``: ``rag_core.cli.parsers``)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

from rag_core.cli.args import env_settings
from rag_core.config import Settings
from rag_core.parts import Parts, parts_for

settings_now = env_settings


@contextlib.contextmanager
def parts_of(settings: Settings) -> Iterator[Parts]:
    """Every part, with the embedded servers started first when Settings name none."""
    parts = parts_for(settings)
    try:
        yield parts
    finally:
        parts.close()


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False, default=str))
