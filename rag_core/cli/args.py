"""Argument types and the parser class of the ``rag-core`` command: a mistake in an argument
ends like every other user error, with a code, a sentence and exit status 2."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import NoReturn

from rag_core.config import Settings


class Parser(argparse.ArgumentParser):
    """Argument mistakes end like every other user error: a code, a sentence, exit 2."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(2, f"error INVALID_ARGUMENT: {message}\n")


def int_between(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, not {value}")
        if value > high:
            raise argparse.ArgumentTypeError(f"must be at most {high}, not {value}")
        return value

    return parse


def iso_day(text: str) -> str:
    import datetime as dt

    try:
        return dt.date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date as YYYY-MM-DD") from None


TOP_K = int_between(1, 50)
# `rag-core search` reaches deeper than the service's answers: a benchmark needs recall@100
# (@1000); the store raises each candidate list and ef_search to top_k (store/searching.py)
SEARCH_TOP_K = int_between(1, 1_000)


def env_settings(**overrides: object) -> Settings:
    """The Settings of the environment (``RAG_*``), with ``overrides``: what every command
    starts from."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    settings = Settings()
    return settings.with_overrides(**overrides) if overrides else settings
