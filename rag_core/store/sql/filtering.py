"""The caller's filters in SQL: a predicate on a row's note metadata (and, for the filters read
from the question, on the user's texts), and the count of the user's notes that pass them
(``rag_core.store.filters.Filters`` gives the binds)."""

from __future__ import annotations

from psycopg import sql


def _held(bind: str, n: str) -> str:
    """The row's note is one of the user's notes whose text holds the value of ``bind`` (a
    pattern of ``store.filters.held_pattern``, matched whatever the case). The subquery names
    no outer column: PostgreSQL runs it once per statement (an InitPlan), not once per row."""
    return (f"{n} = ANY(ARRAY(SELECT DISTINCT h.note_id FROM chunks h"
            f" WHERE h.user_id = %(user_id)s AND h.text ~* %({bind})s::text))")


def _asked(m: str, n: str) -> str:
    """The filters read from the question (``store.filters.Narrowing``: ``a_*`` binds, NULL
    when unset): per field, the front matter has one of the values or the note's text holds
    one."""
    same = ("lower({m}->>'{field}') = ANY(SELECT lower(w) FROM unnest(%(a_{field})s::text[])"
            " AS w)")
    return "".join(
        f" AND (%(a_{field})s::text[] IS NULL OR {same.format(m=m, field=field)}"
        f" OR {_held(f'a_{field}_text', n)})" for field in ("speaker", "series")
    ) + (f" AND (%(a_year)s::text IS NULL OR left({m}->>'date', 4) = %(a_year)s::text"
         f" OR {_held('a_year_text', n)})")


def filter_predicate(alias: str = "") -> str:
    """The rows whose note passes the caller's filters (``store.filters.Filters``: its
    ``binds``; an unset filter is NULL and lets every row through): speaker and series equal
    whatever the case, any of the tags, the date's leading characters within the bounds at
    their precision, compared code point by code point (a date bound's text is ISO); and the
    filters read from the question (``_asked``). The row needs ``metadata`` and ``note_id``."""
    m = f"{alias}.metadata" if alias else "metadata"
    n = f"{alias}.note_id" if alias else "note_id"
    return (
        f"(%(f_speaker)s::text IS NULL OR lower({m}->>'speaker') = lower(%(f_speaker)s::text))"
        f" AND (%(f_series)s::text IS NULL"
        f" OR lower({m}->>'series') = lower(%(f_series)s::text))"
        f" AND (%(f_tags)s::text[] IS NULL OR EXISTS (SELECT 1 FROM jsonb_array_elements_text("
        f"CASE WHEN jsonb_typeof({m}->'tags') = 'array' THEN {m}->'tags' ELSE '[]'::jsonb END)"
        f" AS ft(tag) WHERE lower(ft.tag) = ANY(SELECT lower(w)"
        f" FROM unnest(%(f_tags)s::text[]) AS w)))"
        f" AND (%(f_from)s::text IS NULL OR left({m}->>'date', length(%(f_from)s::text))"
        f' COLLATE "C" >= %(f_from)s::text)'
        f" AND (%(f_to)s::text IS NULL OR left({m}->>'date', length(%(f_to)s::text))"
        f' COLLATE "C" <= %(f_to)s::text)'
    ) + _asked(m, n)


# The user's notes that pass the filters (``Store.count_matching``).
COUNT_MATCHING = sql.SQL(
    "SELECT count(*) FROM notes n WHERE n.user_id = %(user_id)s AND " + filter_predicate("n"))
