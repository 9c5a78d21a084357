"""The caller's filters in SQL: a predicate on a row's note metadata, and the count of the
user's notes that pass them (``rag_core.store.filters.Filters`` gives the binds)."""

from __future__ import annotations

from psycopg import sql


def filter_predicate(alias: str = "") -> str:
    """The rows whose note passes the caller's filters (``store.filters.Filters``: its
    ``binds``; an unset filter is NULL and lets every row through): speaker and series equal
    whatever the case, any of the tags, the date's leading characters within the bounds at
    their precision, compared code point by code point (a date bound's text is ISO)."""
    m = f"{alias}.metadata" if alias else "metadata"
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
    )


# The user's notes that pass the filters (``Store.count_matching``).
COUNT_MATCHING = sql.SQL(
    "SELECT count(*) FROM notes n WHERE n.user_id = %(user_id)s AND " + filter_predicate("n"))
