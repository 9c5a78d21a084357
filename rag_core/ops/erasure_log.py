"""The erasure log: each erasure written also outside the database, so that a restore from a
backup taken before it erases the user again (``RAG_ERASURE_LOG``; by default
``<RAG_STATE_DIR>/erasure.log``; keep it where the backups are, not on the data disk).

One JSON line per erasure: the keyed hash of the id (``user_key``, the audit's), the query
log's hash of the id (``log_hash``) and the time (``at``, UTC); never the id. The file is 0600,
appended to and fsync'd before the database is touched (a line for an erasure that then failed
only erases again, on a restore, a user who asked to be erased).

``rag-core restore`` replays the lines newer than the backup's snapshot inside its own
transaction (:func:`replay_sql`): every row of a user whose keyed hash is on the line goes, as
``rag_core.store.erasure`` takes it out (spend and request counts to the anonymous key first),
and the erasure is recorded again in ``erased_users`` and ``audit_log``. The key of the hash
(``service_keys.erasure``) is made with the schema, so every backup holds it.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rag_core.errors import ErasureLogUnreadable, ErasureLogUnwritable
from rag_core.store.sql.erasure import ANONYMOUS_USER

HEX = re.compile(r"[0-9a-f]{16,128}")
REPLAY_ACTOR = "restore (erasure log)"
# A line is written before its erasure's transaction, on the service's clock, and the snapshot's
# time is the backup host's: lines this much older than the snapshot are still looked at, and
# one whose erasure the backup already holds (``erased_users`` at or after the line's time, less
# the same margin) is passed over; a user erased long before the backup, who came back before
# it, keeps what they wrote since.
MARGIN = timedelta(minutes=5)
# every table with a ``user_id`` column: chunks, then notes (their statistics go by trigger),
# then the rest, as ``rag_core.store.erasure`` deletes them
USER_TABLES_IN_ORDER = """
                SELECT c.table_name AS name FROM information_schema.columns c
                JOIN information_schema.tables it
                  ON it.table_schema = c.table_schema AND it.table_name = c.table_name
                WHERE c.table_schema = current_schema() AND c.column_name = 'user_id'
                  AND it.table_type = 'BASE TABLE'
                ORDER BY c.table_name NOT IN ('chunks', 'notes'), c.table_name <> 'chunks',
                         c.table_name"""


@dataclass(frozen=True)
class Entry:
    user_key: str
    log_hash: str
    at: datetime


def _open_private(path: Path, flags: int) -> int:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, flags | os.O_CREAT, 0o600)
    os.fchmod(fd, 0o600)
    return fd


def ensure(path: Path) -> None:
    """The log, empty when there is none yet (0600)."""
    try:
        os.close(_open_private(path, os.O_WRONLY | os.O_APPEND))
    except OSError as exc:
        raise ErasureLogUnwritable(f"The erasure log {path} cannot be created: {exc}.") from exc


def append(path: Path, user_key: str, log_hash: str, at: datetime | None = None) -> Entry:
    """One erasure at the end of the log, on disk when this returns."""
    entry = Entry(user_key, log_hash, at or datetime.now(UTC))
    line = json.dumps({"user_key": user_key, "log_hash": log_hash,
                       "at": entry.at.isoformat()}) + "\n"
    try:
        fd = _open_private(path, os.O_WRONLY | os.O_APPEND)
        try:
            os.write(fd, line.encode())
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        raise ErasureLogUnwritable(f"The erasure log {path} cannot be written ({exc}); "
                                   "nothing was erased.") from exc
    return entry


def read(path: Path) -> list[Entry]:
    """Every erasure of the log. A last line without its newline (a write cut short) is left
    out; any other line that is not an erasure makes the log unreadable."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ErasureLogUnreadable(f"The erasure log {path} cannot be read ({exc}); nothing "
                                   "was restored. Point RAG_ERASURE_LOG at it, or pass "
                                   "--no-erasure-log to restore without replaying "
                                   "erasures.") from exc
    lines = text.split("\n")
    out = []
    for number, line in enumerate(lines[:-1], 1):  # the part after the last newline: cut short
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            entry = Entry(str(item["user_key"]), str(item["log_hash"]),
                          datetime.fromisoformat(str(item["at"])))
        except (ValueError, KeyError, TypeError) as exc:
            raise ErasureLogUnreadable(f"{path}, line {number}: not an erasure; nothing was "
                                       "restored.") from exc
        if not (HEX.fullmatch(entry.user_key) and HEX.fullmatch(entry.log_hash)):
            raise ErasureLogUnreadable(f"{path}, line {number}: its hashes are not hex; "
                                       "nothing was restored.")
        out.append(entry)
    return out


def since(entries: list[Entry], snapshot: datetime) -> list[Entry]:
    """The erasures the backup may lack: made after its snapshot began, less ``MARGIN``."""
    return [e for e in entries if e.at >= snapshot - MARGIN]


def replay_sql(entries: list[Entry], token: str) -> str:
    """SQL that erases again, in the transaction it runs in, every user whose keyed hash is in
    ``entries`` (unless the restored data records that erasure already); each replay writes an
    ``audit_log`` row (``detail.restore`` = ``token``) with the rows it took out. The values
    are hex and ISO times, checked by :func:`read`."""
    if not entries:
        return ""
    values = ",\n".join(f"('{e.user_key}', '{e.log_hash}', '{e.at.isoformat()}'::timestamptz)"
                        for e in entries)
    user_tables, margin_s = USER_TABLES_IN_ORDER, int(MARGIN.total_seconds())
    return f"""
-- pg_restore's script empties search_path for the session: the service's own again
RESET search_path;
CREATE TEMP TABLE rag_replayed_erasures (user_key text, log_hash text, at timestamptz)
    ON COMMIT DROP;
INSERT INTO rag_replayed_erasures VALUES
{values};
DO $replay$
DECLARE
    e record;
    t record;
    uid text;
    n bigint;
    total bigint;
    tables jsonb;
BEGIN
    IF rag_user_key('') IS NULL THEN
        RAISE EXCEPTION 'the backup holds no erasure key (service_keys.erasure), so the '
            'erasure log cannot be matched to its users: restore with --no-erasure-log and '
            'erase the users again by id';
    END IF;
    CREATE TEMP TABLE rag_replay_ids (ids text[]) ON COMMIT DROP;
    FOR e IN SELECT * FROM rag_replayed_erasures ORDER BY at LOOP
        IF EXISTS (SELECT 1 FROM erased_users WHERE user_key = e.user_key
                   AND erased_at >= e.at - make_interval(secs => {margin_s})) THEN
            CONTINUE;  -- the backup holds this erasure already
        END IF;
        tables := '{{}}'::jsonb;
        DELETE FROM rag_replay_ids;
        FOR t IN {user_tables} LOOP
            EXECUTE format('INSERT INTO rag_replay_ids SELECT array_agg(u) FROM '
                           '(SELECT DISTINCT user_id AS u FROM %I) d '
                           'WHERE rag_user_key(u) = $1', t.name) USING e.user_key;
        END LOOP;
        FOR uid IN
            SELECT DISTINCT unnest(ids) FROM rag_replay_ids
                LOOP
            INSERT INTO user_api_costs AS c (day, user_id, cost_usd, input_tokens,
                                             output_tokens, requests)
            SELECT day, '{ANONYMOUS_USER}', cost_usd, input_tokens, output_tokens, requests
            FROM user_api_costs WHERE user_id = uid
            ON CONFLICT (day, user_id) DO UPDATE SET
                cost_usd = c.cost_usd + EXCLUDED.cost_usd,
                input_tokens = c.input_tokens + EXCLUDED.input_tokens,
                output_tokens = c.output_tokens + EXCLUDED.output_tokens,
                requests = c.requests + EXCLUDED.requests;
            INSERT INTO request_counts AS r (day, user_id, outcome, requests)
            SELECT day, '{ANONYMOUS_USER}', outcome, requests FROM request_counts
            WHERE user_id = uid
            ON CONFLICT (day, user_id, outcome) DO UPDATE
                SET requests = r.requests + EXCLUDED.requests;
            FOR t IN {user_tables} LOOP
                EXECUTE format('DELETE FROM %I WHERE user_id = $1', t.name) USING uid;
                GET DIAGNOSTICS n = ROW_COUNT;
                IF n > 0 THEN
                    tables := jsonb_set(tables, ARRAY[t.name],
                                        to_jsonb(coalesce((tables->>t.name)::bigint, 0) + n));
                END IF;
            END LOOP;
        END LOOP;
        DELETE FROM query_log WHERE user_hash = e.log_hash;
        GET DIAGNOSTICS n = ROW_COUNT;
        IF n > 0 THEN
            tables := jsonb_set(tables, ARRAY['query_log'], to_jsonb(n));
        END IF;
        INSERT INTO erased_users (user_key, log_hash, erased_at)
        VALUES (e.user_key, e.log_hash, e.at)
        ON CONFLICT (user_key) DO UPDATE
            SET log_hash = EXCLUDED.log_hash,
                erased_at = greatest(erased_users.erased_at, EXCLUDED.erased_at);
        SELECT coalesce(sum(value::bigint), 0) INTO total FROM jsonb_each_text(tables);
        INSERT INTO audit_log (action, subject, actor, detail)
        VALUES ('user_erased', e.user_key, '{REPLAY_ACTOR}',
                jsonb_build_object('rows', tables, 'total', total, 'restore', '{token}',
                                   'erased_at', e.at));
    END LOOP;
END
$replay$;
"""
