"""Every SQL statement of the project, in one package.

Queries are ``psycopg.sql`` objects with bind parameters; values never enter the text.  The few
numbers that DDL needs (vector dimension, HNSW ``m`` / ``ef_construction``) are validated
integers from Settings and enter as ``sql.Literal``.

- ``schema``: migrations, the lexical SQL functions and the BM25 statistics triggers;
- ``hnsw``: the HNSW index: created, found, rebuilt concurrently;
- ``locks``: the advisory locks' keys;
- ``writes``: notes, chunks (bulk), versions and statistics reads;
- ``ledger``: cost rows, reservations in flight and notes versions owed to Redis;
- ``limits``: a user's own request limits;
- ``records``: answer records, verdicts and the opt-in query log;
- ``erasure``: the audit log, erased users and the guard of their writes in flight;
- ``filtering``: the caller's filters as a predicate on a row's note;
- ``search``: the dense scan, the lexical rankers and the three searches;
- ``sources``: each note's source folder, file and file hash;
- ``note_history``: a note's revisions and the trash of deleted notes.
"""

from rag_core.store.sql.erasure import *  # noqa: F403
from rag_core.store.sql.filtering import *  # noqa: F403
from rag_core.store.sql.hnsw import *  # noqa: F403
from rag_core.store.sql.ledger import *  # noqa: F403
from rag_core.store.sql.limits import *  # noqa: F403
from rag_core.store.sql.locks import *  # noqa: F403
from rag_core.store.sql.note_history import *  # noqa: F403
from rag_core.store.sql.records import *  # noqa: F403
from rag_core.store.sql.schema import *  # noqa: F403
from rag_core.store.sql.search import *  # noqa: F403
from rag_core.store.sql.sources import *  # noqa: F403
from rag_core.store.sql.writes import *  # noqa: F403
