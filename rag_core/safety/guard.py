"""Step 1 of the pipeline: validate, sanitise and budget a question.

Validation refuses (``INVALID_QUERY``, 422) what is not a question at all: not text, empty,
too long, lone surrogates or Unicode non-characters, nothing but control or invisible
characters, no letter or digit. Sanitising is ``rag_core.safety.sanitiser.scan_question``:
invisible characters deleted, NFKC, then pattern families looked for sentence by sentence
through normalised views (look-alike letters, leetspeak, spelled-out letters, misspellings) and
decoded payloads (base64, hex, rot13, ...).

What a flag does (the contract the pipeline keeps): the flagged sentences never reach retrieval
or the model. If the rest still reads as a question it is answered, and the answer carries the
flags; if nothing answerable is left, ``Query.text`` is empty and the pipeline returns its
refusal without retrieval or generation (no cost). An unflagged question goes on whole, only
normalised. Flags are also counted per family in ``guard_flags_total``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rag_core.config import Settings
from rag_core.errors import InvalidQuery
from rag_core.safety.normalise import bad_code_point, clean, one_line
from rag_core.tokens import TokenCounter
from rag_core.types import Query

USER_ID = re.compile(r"^[A-Za-z0-9_.@:\-]{1,128}$")
_WORD = re.compile(r"[^\W_]")


@dataclass(frozen=True)
class Sanitised:
    text: str
    flags: tuple[str, ...]


def normalise(text: str) -> str:
    """NFKC, no control or invisible characters, single spaces, one line."""
    return one_line(clean(text))


def sanitise(text: str) -> Sanitised:
    """Normalise ``text`` and flag it by family; flagged sentences are left out of ``text``
    (empty when nothing answerable is left). See the module docstring."""
    from rag_core.safety.sanitiser import scan_question  # lazy: its patterns compile on import

    scan = scan_question(text)
    return Sanitised(scan.text, scan.flags)


def __getattr__(name: str) -> object:
    # The sanitiser and its pattern families are imported by what sanitises only, not by
    # ``rag-core token`` or the user-id check (the families hold their patterns as written).
    if name == "PATTERN_FAMILIES":  # the families of English patterns, by name
        from rag_core.safety.sanitiser import FAMILIES  # lazy: as in sanitise

        return FAMILIES
    raise AttributeError(name)


def has_substance(text: str) -> bool:
    """Something to answer: a letter or digit (``validate_query`` has refused questions with
    none, so an empty text here means the sanitiser left nothing answerable)."""
    return bool(_WORD.search(text))


def is_valid_user_id(user_id: object) -> bool:
    """1-128 letters, digits or . _ @ : -, matched whole (``re.fullmatch``: a trailing newline is
    not accepted, as ``$`` would accept it)."""
    return isinstance(user_id, str) and USER_ID.fullmatch(user_id) is not None


def validate_user(user_id: str) -> str:
    if not is_valid_user_id(user_id):
        raise InvalidQuery("The user id must be 1-128 letters, digits or . _ @ : -")
    return user_id


def validate_query(user_id: str, text: object, counter: TokenCounter, settings: Settings,
                   *, sanitiser: bool = True) -> Query:
    """Schema checks, sanitising and the query token budget, in that order."""
    validate_user(user_id)
    if not isinstance(text, str):
        raise InvalidQuery("The question must be text.")
    if not text.strip():
        raise InvalidQuery("The question is empty.")
    if len(text) > settings.services.max_query_chars:
        raise InvalidQuery(
            f"The question is {len(text)} characters long; the limit is "
            f"{settings.services.max_query_chars}."
        )
    bad = bad_code_point(text)
    if bad:
        raise InvalidQuery(f"The question contains {bad}; send valid Unicode text.")
    visible = normalise(text)
    if not visible:
        raise InvalidQuery("The question has only control or invisible characters.")
    if not _WORD.search(visible):
        raise InvalidQuery("The question has no letters or digits.")
    checked = sanitise(text) if sanitiser else Sanitised(visible, ())
    limited, truncated = counter.truncate(checked.text, settings.tokens.query_token_budget)
    return Query(
        user_id=user_id,
        text=limited,
        original=text,
        truncated=truncated,
        counter=counter.count,
        flags=checked.flags,
    )
