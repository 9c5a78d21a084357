"""The operator's commands that act on the whole service, registered by ``cli.main``."""

from __future__ import annotations

from rag_core.cli.backup import add_backup_commands
from rag_core.cli.users import Add, add_user_commands


def add_operator_commands(add: Add) -> None:
    add_user_commands(add)
    add_backup_commands(add)
