"""The note store's searches and the statistics around them: what ``PgVectorStore`` reads to
answer a question (``search``, ``count_matching``) and to describe a user's notes (chunk
counts, users, the lexical statistics). Searches and counts go where ``ReplicaReads`` sends
them (the replica when it is fresh enough); the lexical statistics read the primary."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rag_core.config import Retrieval
from rag_core.store import sql as q
from rag_core.store.base import DENSE
from rag_core.store.filters import NO_FILTERS, Filters
from rag_core.store.replica import ReplicaReads
from rag_core.store.searching import run_search
from rag_core.types import Chunk

if TYPE_CHECKING:
    import numpy as np
    from psycopg.rows import TupleRow

    from rag_core.store.pool import Conn
    from rag_core.store.records import Connect



class PgSearches:
    """Searches and statistics of a store's notes, on its connections (``db``, ``reads``)."""

    def __init__(self, embedding_dim: int, reads: ReplicaReads, db: Connect) -> None:
        self.embedding_dim = embedding_dim
        self.reads = reads
        self._db = db

    def search(
        self,
        user_id: str,
        embedding: np.ndarray | None,
        top_k: int,
        *,
        query_text: str | None = None,
        params: Retrieval | None = None,
        min_version: int | None = None,
        filters: Filters = NO_FILTERS,
    ) -> list[Chunk]:
        """The user's best chunks, best first, searched with ``params`` (defaults when None),
        on the read replica when it has the user's notes version ``min_version`` (replica.py),
        among the chunks of the notes that pass ``filters`` (in the statement itself).

        ``score`` is the cosine similarity to ``embedding`` for every returned chunk, also for
        lexical-only hits (in lexical mode without an embedding it is the lexical score).
        Every knob comes from ``params`` (the service passes ``settings.retrieval``; default
        ``DENSE``).  ``ef_search`` is
        never set below the number of rows the index scan must return.
        """
        params = params or DENSE
        if top_k < 1:
            raise ValueError("top_k must be at least 1")
        if embedding is None and params.retrieval_mode != "lexical":
            raise ValueError(f"{params.retrieval_mode} search needs a query embedding")
        vector = None if embedding is None else self._vector(embedding)
        search = params

        def read(conn: Conn) -> list[Chunk]:
            return run_search(conn, user_id, vector, top_k, query_text, search, filters)

        return self.reads.run("vector search", read, user_id=user_id, min_version=min_version)

    def count_matching(self, user_id: str, filters: Filters, *,
                       min_version: int | None = None) -> int:
        """How many of the user's notes pass ``filters`` (all of them without filters), where
        the search reads (``min_version`` as in ``search``)."""
        def read(conn: Conn) -> int:
            row = conn.execute(q.COUNT_MATCHING, {"user_id": user_id, **filters.binds()}
                               ).fetchone()
            return int(row[0]) if row else 0

        return self.reads.run("note count", read, user_id=user_id, min_version=min_version)

    def count_chunks(self, user_id: str | None = None) -> int:
        def read(conn: Conn) -> TupleRow | None:
            if user_id is None:
                return conn.execute(q.COUNT_CHUNKS).fetchone()
            return conn.execute(q.COUNT_USER_CHUNKS, (user_id,)).fetchone()

        row = self.reads.run("chunk count", read)
        return int(row[0]) if row else 0

    def users(self) -> list[str]:
        """Every user id that has at least one note."""
        return self.reads.run("user listing",
                              lambda conn: [str(r[0]) for r in conn.execute(q.USERS)])

    def lexical_stats(self, user_id: str, terms: Sequence[str] = ()) -> dict[str, Any]:
        """The user's BM25 statistics: ``chunks``, ``avg_length`` and ``df`` of ``terms``."""
        with self._db("statistics lookup") as conn:
            row = conn.execute(q.USER_LEXICAL_STATS, (user_id,)).fetchone()
            found = conn.execute(q.LEXEME_DFS, (user_id, list(terms))).fetchall()
            dfs: dict[str, int] = dict(found)
        chunks, total = (int(row[0]), int(row[1])) if row else (0, 0)
        return {"chunks": chunks, "total_length": total,
                "avg_length": total / chunks if chunks else 0.0,
                "df": {t: int(dfs.get(t, 0)) for t in terms}}

    def query_lexemes(self, text: str) -> list[str]:
        """The lexemes the lexical search looks for in ``text`` (stemmed, references added)."""
        with self._db("lexeme lookup") as conn:
            row = conn.execute(q.QUERY_LEXEMES, (text,)).fetchone()
        return list(row[0]) if row and row[0] else []

    def _vector(self, embedding: np.ndarray) -> np.ndarray:
        import numpy as np

        vec = np.asarray(embedding, dtype=np.float32).reshape(-1)
        if vec.shape[0] != self.embedding_dim:
            raise ValueError(
                f"query embedding has {vec.shape[0]} dimensions, expected "
                f"{self.embedding_dim}"
            )
        if not np.all(np.isfinite(vec)):
            raise ValueError("query embedding contains NaN or infinity")
        return vec
