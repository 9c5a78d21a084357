"""Argument types and the parser class of the ``rag-core`` command: a mistake in an argument
ends like every other user error, with a code, a sentence and exit status 2."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import NoReturn

from rag_core.config import Settings
from rag_core.store.filters import Filters


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


def add_filter_args(p: argparse.ArgumentParser) -> None:
    """``--speaker``, ``--series``, ``--tag`` (repeatable), ``--date-from``, ``--date-to``:
    only the notes that pass them are searched (``rag_core.store.filters``)."""
    group = p.add_argument_group("filters", "search only the notes that pass every filter given")
    group.add_argument("--speaker", help="the note's speaker (whatever the case)")
    group.add_argument("--series", help="the note's series (whatever the case)")
    group.add_argument("--tag", action="append", dest="tags", metavar="TAG",
                       help="a tag the note carries; repeat for any of several")
    group.add_argument("--date-from", metavar="DATE",
                       help="notes dated on or after YYYY, YYYY-MM or YYYY-MM-DD")
    group.add_argument("--date-to", metavar="DATE",
                       help="notes dated on or before YYYY, YYYY-MM or YYYY-MM-DD")


def filters_from(args: argparse.Namespace) -> Filters:
    """The filters of ``add_filter_args``, checked (a bad one: ``INVALID_FILTER``, exit 2)."""
    return Filters.parse(speaker=args.speaker, series=args.series, tags=args.tags,
                         date_from=args.date_from, date_to=args.date_to)
