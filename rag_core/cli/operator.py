"""The operator's commands that act on the whole service (each module's ``register(add)``),
registered by ``cli.main``: a user erased everywhere, backup and restore."""

from __future__ import annotations

from rag_core.cli import backup, users
from rag_core.cli.users import Add


def add_operator_commands(add: Add) -> None:
    users.register(add)
    backup.register(add)
