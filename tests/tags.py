"""Tags that make a test's question unique without changing what it asks."""

from __future__ import annotations

import random
import string


def letters_tag(n: int = 8) -> str:
    """``n`` random lowercase letters: no digits, which a question would name as a number the
    notes must give (rag_core.decisions.quantities), refusing it."""
    return "".join(random.choices(string.ascii_lowercase, k=n))
