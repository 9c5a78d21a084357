"""Where the time of one pgvector HNSW search goes, against hnswlib in process (figures, not
tests): the benchmark corpus of notebook 02, one index, one ef_search, one client.

    python benchmarks/bench_pg_search.py [--corpus-size 100000] [--ef-search 120] [--repeats 3]

The corpus and queries are notebook 02's (``evals.datasets.corpus``, seed 7, 200 users); their
vectors
come from ``<state>/bench/`` when the full profile has embedded them, and are embedded first
otherwise (100,000 chunks take about half an hour here). The table gets the service's default
index type (``halfvec``) with ``--m`` / ``--ef-construction``. Each repeat times every variant
in one pass over the queries, in an order that turns with each repeat:

- ``round trip``: a prepared ``SELECT 1``, the floor of any statement from Python;
- ``store statement``: the store's dense scan (``rag_core.store.sql.knn_scan``), as notebook
  02 times it (text parameters, prepared);
- ``binary parameters``: the same statement with its parameters sent in binary;
- ``ids only``: the ids ordered by the index's half-precision distance, nothing else read
  from the table (binary parameters);
- ``server execution``: PostgreSQL's own execution time of the store statement (``EXPLAIN
  (ANALYZE, TIMING OFF)``), with no client in it;
- ``hnswlib``: the same vectors, m, ef_construction and ef_search in process, one thread.

Medians over repeats of each variant's median; the ratio column divides by hnswlib's.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from psycopg import sql

from evals.datasets import corpus as bench_corpus
from evals.retrieval import pg as pg
from evals.retrieval.stats import K, exact_neighbours, recall_at_k, truth_lists
from rag_core import services
from rag_core.store.sql import search as q


def _statements(conn: Any, table: str, dim: int) -> dict[str, tuple[sql.Composable, bool]]:
    """Each timed statement and whether its parameters go in binary."""
    store = q.knn_scan(table, ("id",), per_user=False, halfvec_dim=dim)
    text = store.as_string(conn)
    return {
        "store statement": (store, False),
        "binary parameters": (sql.SQL(text.replace("%(embedding)s", "%(embedding)b")), True),
        "ids only": (sql.SQL(
            "SELECT id FROM {t} ORDER BY embedding::halfvec({d}) <=> %(embedding)b::halfvec({d}) "
            "LIMIT %(k)s").format(t=sql.Identifier(table), d=sql.Literal(dim)), True),
    }


def _server_ms(conn: Any, statement: sql.Composable, vec: np.ndarray) -> float:
    """PostgreSQL's execution time of one search, in ms."""
    plan = conn.execute(sql.SQL("EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) ") + statement,
                        {"embedding": vec, "k": K}).fetchone()[0]
    return float(plan[0]["Execution Time"])


def one_repeat(conn: Any, statements: dict[str, tuple[sql.Composable, bool]], index: Any,
               queries: np.ndarray, truth: list[list[int]], turn: int = 0
               ) -> dict[str, dict[str, Any]]:
    """One pass over the queries per variant, in an order rotated by ``turn``.

    Passes, not query by query: a search that follows another of the same vector finds the
    nodes it visits in the CPU's caches and looked twice as fast as it is (benchmarks/README).
    """
    runs: dict[str, Callable[[np.ndarray], list[int] | None]] = {
        "round trip": lambda v: conn.execute("SELECT 1", prepare=True).fetchall() and None,
        **{name: (lambda v, s=s, b=b: [r[0] for r in conn.execute(
            s, {"embedding": v, "k": K}, prepare=True, binary=b).fetchall()])
           for name, (s, b) in statements.items()},
        "hnswlib": lambda v: [int(x) for x in index.knn_query(v, k=K)[0][0]],
        "server execution": lambda v: _server_ms(conn, statements["store statement"][0], v),
    }
    names = list(runs)
    names = names[turn % len(names):] + names[:turn % len(names)]
    out: dict[str, dict[str, Any]] = {}
    for name in names:
        secs, found = np.empty(len(queries)), []
        for i, vec in enumerate(queries):
            start = time.perf_counter()
            got = runs[name](vec)
            secs[i] = time.perf_counter() - start
            if isinstance(got, float):  # the server's own figure, in ms
                secs[i] = got / 1000
            elif got is not None:
                found.append(got)
        out[name] = {"p50_ms": 1000 * float(np.median(secs)),
                     "recall_at_5": recall_at_k(found, truth, 5) if found else None}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus-size", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--m", type=int, default=16)
    parser.add_argument("--ef-construction", type=int, default=400)
    parser.add_argument("--ef-search", type=int, default=120)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--keep-table", action="store_true")
    args = parser.parse_args()

    import hnswlib

    corpus = bench_corpus.build_corpus(args.corpus_size, args.users, args.seed)
    queries = bench_corpus.build_queries(args.queries, args.users, args.seed, corpus)
    base, qv = corpus.vectors, queries.vectors
    assert base is not None and qv is not None
    truth = truth_lists(exact_neighbours(base, qv))
    dim = int(base.shape[1])
    table = f"bench_pgsearch_{args.corpus_size}_{args.seed}"
    url = services.ensure_database(pg.server_url(), pg.BENCH_DB)
    with pg.connect(url) as conn:
        pg.load_table(conn, table, base, corpus.user_ids)
        build = pg.build_index(conn, table, args.m, args.ef_construction, "halfvec", dim)
        print(f"index built in {build['build_s']:.0f} s ({build['index_mb']:.0f} MB)")
        pg.hnsw_mode(conn, args.ef_search)
        index = hnswlib.Index(space="cosine", dim=dim)
        index.init_index(max_elements=len(base), M=args.m, ef_construction=args.ef_construction,
                         random_seed=args.seed)
        index.set_num_threads(1)
        index.add_items(base, np.arange(len(base)))
        index.set_ef(max(args.ef_search, K))
        statements = _statements(conn, table, dim)
        one_repeat(conn, statements, index, qv[:200], truth[:200])  # warm-up
        repeats = [one_repeat(conn, statements, index, qv, truth, turn)
                   for turn in range(args.repeats)]
        if not args.keep_table:
            pg.drop_table(conn, table)
    ref = statistics.median(r["hnswlib"]["p50_ms"] for r in repeats)
    print(f"\n{args.corpus_size:,} chunks, m {args.m} / ef_construction {args.ef_construction}, "
          f"ef_search {args.ef_search}, {len(qv)} queries x {args.repeats} repeats\n")
    print("| variant | recall@5 | p50 ms (each repeat) | median | / hnswlib |")
    print("|---|---|---|---|---|")
    for name in ["round trip", *statements, "server execution", "hnswlib"]:
        each = [r[name]["p50_ms"] for r in repeats]
        recall = repeats[0][name]["recall_at_5"]
        print(f"| {name} | {'-' if recall is None else f'{recall:.3f}'} | "
              f"{' / '.join(f'{x:.3f}' for x in each)} | {statistics.median(each):.3f} | "
              f"{statistics.median(each) / ref:.2f}x |")


if __name__ == "__main__":
    main()
