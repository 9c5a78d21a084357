"""What every subcommand module of ``rag-core`` shares: the type of ``add`` (how a module
registers its subcommands in ``register(add)``), the settings of a command, every part for one
command, and JSON on stdout."""

from __future__ import annotations

import argparse
import contextlib
import json
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from rag_core.cli.args import env_settings
from rag_core.config import Settings

if TYPE_CHECKING:
    from rag_core.parts import Parts

# add(name, function, help) -> the subcommand's parser, to add its arguments to
Add = Callable[[str, Callable[[argparse.Namespace], int], str], Any]

settings_now = env_settings


@contextlib.contextmanager
def parts_of(settings: Settings) -> Iterator[Parts]:
    """Every part, with the embedded servers started first when Settings name none."""
    from rag_core.parts import parts_for

    parts = parts_for(settings)
    try:
        yield parts
    finally:
        parts.close()


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False, default=str))
