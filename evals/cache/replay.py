"""Replay a query log (``evals.datasets.querylog``) through the real pipeline and its real cache
layers,
then turn the measured hit rates and token counts into a monthly cost projection.

Simulated time runs on a :class:`SimClock` instead of the wall clock: before each event the clock
moves to the event's time, and moving it ages every entry of the replay's Redis database by the
simulated seconds that passed (one Lua script: ``PTTL`` minus the step, ``PEXPIRE``, or delete
when nothing is left), so Redis itself expires L1, L2 and semantic entries at the simulated
times with the TTLs of Settings unchanged. The in-process L3 context cache takes the clock as
its ``clock``. No sleeping: a simulated week replays as fast as the pipeline answers, whatever
the machine's load. (Pacing the replay in wall time with TTLs divided by a time scale was tried
first: a cache miss costs 0.2-0.5 s on a busy 2-core machine, so the replay fell hours of
simulated time behind and expiry came out wrong.) The clock moves in steps of ``quantum_s``
simulated seconds (default 300 s), so an entry may live up to one step longer than its TTL.

Edits go through real ingestion, so the notes version moves and the user's cached answers
become unreachable. Each synthetic user gets a copy of its golden library under its own user
id in a PostgreSQL database of the replay (:data:`REPLAY_DATABASE`), and the replay's caches
live in a Redis database of their own (:data:`REPLAY_REDIS_DB`): edits never touch the golden
users' notes, and other runs on the same servers neither see nor disturb the replay (two
replays at the same time would share both: run one at a time).

The arithmetic (:func:`classify`, :func:`layer_rates`, :func:`project_costs`, ...) lives in
``evals.cache.metrics`` (pure, tested alone; re-exported here); this module drives the pipeline
(:func:`run_replay`, :func:`sweep`). The log is the seeded synthetic one of
``evals.datasets.querylog`` or a team's own (``querylog.read_log``), the notes the golden
libraries or a folder per user (:func:`library_notes`).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import pandas as pd

from evals.cache.metrics import (  # noqa: F401  (re-exported: the notebook's one import)
    DAYS_PER_MONTH,
    OUTCOMES,
    SCALES,
    billed_per_call,
    classify,
    cost_per_call,
    cost_reduction,
    costs_metrics,
    layer_rates,
    mean_tokens,
    outcome_by_kind,
    project_costs,
    rates_over_time,
    spent_and_saved,
    sweep_points,
    sweep_row,
    to_metrics,
    with_main_point,
)
from evals.datasets import querylog
from evals.paths import GOLDEN_DIR
from rag_core import services
from rag_core.cache.semantic import Policy
from rag_core.config import Settings
from rag_core.pipeline import Pipeline
from rag_core.redis_kv.client import RedisClient
from rag_core.types import Note

REPLAY_REDIS_DB = 11
REPLAY_DATABASE = "rag_cache_replay"


# --- settings and users ----------------------------------------------------------------------


def redis_db_url(url: str, db: int) -> str:
    """``url`` pointing at logical database ``db``: the path of a ``redis://`` or
    ``rediss://`` URL, the ``db`` parameter of a ``unix://`` one (the embedded Redis' socket),
    the password and other parameters kept."""
    from urllib.parse import parse_qsl, urlencode

    base, _, query = url.partition("?")
    scheme, _, rest = base.partition("://")
    if scheme == "unix":
        params = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k != "db"]
        return f"{base}?{urlencode([*params, ('db', str(db))])}"
    host = rest.split("/", 1)[0]
    return f"{scheme}://{host}/{db}" + (f"?{query}" if query else "")


def cache_settings(*, query_ttl_s: int, semantic_threshold: float,
                   state_dir: str | Path | None = None, redis_db: int | None = REPLAY_REDIS_DB,
                   database: str | None = REPLAY_DATABASE, base: Settings | None = None,
                   **overrides: object) -> Settings:  # Settings fields of every type
    """Settings of a replay: caches on, the given query TTL and semantic threshold, services
    resolved, and the replay's own PostgreSQL database (``database``: the library copies stay
    there between runs, so a second run embeds nothing) and Redis database (``redis_db``).
    ``base`` defaults to the evaluation settings of ``evals.quality.evaluate`` (ci profile, embedded
    services, extractive generator); ``overrides`` are further Settings fields."""
    from evals.quality import evaluate as quality
    from rag_core.services import resolve

    settings = base if base is not None else quality.eval_settings(state_dir=state_dir)
    settings = settings.with_overrides(
        cache_enabled=True, semantic_cache_enabled=True, query_cache_ttl_s=int(query_ttl_s),
        semantic_cache_threshold=semantic_threshold, **overrides)
    settings = resolve(settings)
    server, redis_url = settings.services.database_url, settings.services.redis_url
    assert server and redis_url
    if database is not None:
        settings = settings.with_overrides(
            database_url=services.ensure_database(server, database))
    if redis_db is not None:
        settings = settings.with_overrides(redis_url=redis_db_url(redis_url, redis_db))
    return settings


def single_threaded() -> None:
    """One torch thread for the embedding model: on a small shared machine two threads that
    fight other processes for the cores make a query embedding 5-10x slower (measured 350 ms
    against 48 ms at a load average of 9 on 2 cores)."""
    import torch

    torch.set_num_threads(1)


def library_notes(golden_dir: str | Path | None = None,
                  notes_dir: str | Path | None = None) -> dict[str, list[Note]]:
    """The notes per library as ``rag_core.types.Note``: the golden ones (``golden/notes``), or
    those of ``notes_dir``, a folder per user as ``rag-core ingest`` reads them."""
    from rag_core.ingest.readers import load_notes

    folder = Path(notes_dir) if notes_dir else (Path(golden_dir) if golden_dir
                                                 else GOLDEN_DIR) / "notes"
    if not folder.is_dir():
        raise FileNotFoundError(f"no notes folder at {folder}")
    return {p.name: load_notes(p) for p in sorted(folder.iterdir()) if p.is_dir()}


def log_users(events: Sequence[querylog.Event]) -> dict[str, str]:
    """user -> library of the users in a log."""
    return {e.user: e.library for e in events}


def prepare_users(pipeline: Pipeline, users: Mapping[str, str], notes: Mapping[str, Sequence[Note]],
                  ) -> pd.DataFrame:
    """Give every user an exact copy of its library (undoing earlier edits) and empty caches."""
    from rag_core.ingest.ingestion import ingest_notes
    from rag_core.redis_kv.keys import user_prefix

    rows = []
    for user, lib in users.items():
        report = ingest_notes(pipeline.parts, user, list(notes[lib]), progress=False,
                              prune=True)
        pipeline.parts.caches.clear(user)
        rows.append({"user": user, "library": lib, "inserted": report.inserted,
                     "updated": report.updated, "unchanged": report.unchanged})
    pipeline.parts.caches.embedding.clear(user_prefix("embedding", None))
    return pd.DataFrame(rows)


def remove_users(pipeline: Pipeline, users: Iterable[str]) -> int:
    """Delete the synthetic users' notes and cached entries (leave the shared store clean)."""
    removed = 0
    for user in users:
        for row in pipeline.parts.store.list_notes(user):
            removed += bool(pipeline.parts.store.delete_note(user, row["note_id"]))
        pipeline.parts.caches.clear(user)
    return removed


class SimClock:
    """Simulated seconds for the replay's caches.

    ``advance_to(t)`` ages every ``rag:*`` entry of the Redis database of ``client`` by the
    simulated time that passed minus the wall time that passed meanwhile (Redis has aged them
    by that already), in one Lua script. Calling the clock gives the simulated time, which is
    what the in-process :class:`~rag_core.cache.memory.MemoryCache` wants as ``clock``. The
    Redis database must be the replay's own: every entry in it gets older.

    Repeatable whatever the machine's load: Redis also ages the entries by the wall time that
    passes between two steps, which is only subtracted approximately (an entry written in the
    middle of a step has aged less than one there from the start). So each entry's time left
    is rounded up to whole quanta after the step (less :data:`TOLERANCE` of a quantum): an
    entry's simulated life is the same in every replay of the same log, and it expires at a
    step, never between two at a moment that depends on how fast the answers came.
    """

    TOLERANCE = 0.1  # of a quantum: the wall time a step may lose or gain without effect

    _AGE = """
local n = 0
local quantum = tonumber(ARGV[2])
local slack = tonumber(ARGV[3])
for _, key in ipairs(redis.call('KEYS', 'rag:*')) do
  local left = redis.call('PTTL', key)
  if left > 0 then
    left = left - tonumber(ARGV[1])
    if quantum > 0 then
      left = math.ceil((left - slack) / quantum) * quantum
    end
    if left <= 0 then
      redis.call('DEL', key)
      n = n + 1
    else
      redis.call('PEXPIRE', key, left)
    end
  end
end
return n
"""

    _CLEAR = """
local keys = redis.call('KEYS', 'rag:*')
for _, key in ipairs(keys) do
  redis.call('DEL', key)
end
return #keys
"""

    def __init__(self, client: RedisClient | None, quantum_s: float = 300.0,
                 wall: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        self.quantum_s = quantum_s
        self.now_s = 0.0
        self.expired = 0
        self.steps = 0
        self._clock = wall
        self._wall = wall()
        self._script = client.register_script(self._AGE) if client is not None else None

    def clear(self) -> int:
        """Delete every ``rag:*`` entry of the replay's database (a replay starts from empty
        caches, whatever an earlier replay or sweep point left); the count deleted."""
        if self.client is None:
            return 0
        return int(self.client.register_script(self._CLEAR)())

    def __call__(self) -> float:
        return self.now_s

    def advance_to(self, t: float) -> None:
        """Move to simulated time ``t`` (in whole quanta; never backwards)."""
        step = t - self.now_s
        if self.quantum_s > 0:
            step = (step // self.quantum_s) * self.quantum_s
        if step <= 0:
            return
        wall = self._clock()
        age_ms = int(step * 1000 - (wall - self._wall) * 1000)
        if self._script is not None and age_ms > 0:
            quantum_ms = int(self.quantum_s * 1000)
            slack_ms = int(quantum_ms * self.TOLERANCE)
            self.expired += int(self._script(args=[age_ms, quantum_ms, slack_ms]))
        self._wall = wall
        self.now_s += step
        self.steps += 1


def pipeline_for(base: Pipeline, settings: Settings, clock: SimClock | None = None
                 ) -> Pipeline:
    """The parts of ``base`` (store, model, generator) with fresh cache layers of ``settings``;
    with ``clock``, the in-process context cache and the semantic entries run on simulated
    time (``rag_core.parts.variant``)."""
    from rag_core.parts import variant

    return Pipeline(variant(base.parts, settings=settings, fresh_caches=True, clock=clock))


# --- the replay ------------------------------------------------------------------------------


def _edit(pipeline: Pipeline, state: dict[tuple[str, str], Note], event: querylog.Event) -> int:
    from rag_core.ingest.ingestion import ingest_notes

    key = (event.user, event.source)
    note = state[key]
    edited = replace(note, body=f"{note.body}\n\n{event.text}")
    state[key] = edited
    ingest_notes(pipeline.parts, event.user, [edited], progress=False)
    return int(pipeline.parts.store.notes_version(event.user))


def replay(pipeline: Pipeline, events: Sequence[querylog.Event],
           notes: Mapping[str, Sequence[Note]], clock: SimClock, *, progress: bool = False,
           label: str = "replay") -> pd.DataFrame:
    """Ask every request of ``events`` (and apply every edit) in simulated time order, moving
    ``clock`` to each event's time first. One row per event."""
    state = {(u, n.id): n for u, lib in log_users(events).items() for n in notes[lib]}
    rows: list[dict[str, object]] = []
    items: Iterable[querylog.Event] = events
    if progress:
        from tqdm.std import tqdm

        items = tqdm(events, desc=label, file=sys.stderr, mininterval=5.0, ncols=90)
    for event in items:
        clock.advance_to(event.t)
        began = time.perf_counter()
        row: dict[str, object] = {"t": event.t, "user": event.user, "kind": event.kind,
                               "seen": event.seen}
        if event.kind == "edit":
            row.update(outcome="edit", notes_version=_edit(pipeline, state, event))
        else:
            answer = pipeline.ask(event.user, event.text)
            row.update(outcome=classify(answer.cache, answer.generator),
                       generator=answer.generator,
                       query=answer.cache.get("query", "off"),
                       semantic=answer.cache.get("semantic", "off"),
                       embedding=answer.cache.get("embedding", "off"),
                       context=answer.cache.get("context", "off"),
                       input_tokens=answer.usage.input_tokens,
                       output_tokens=answer.usage.output_tokens)
        row["ms"] = (time.perf_counter() - began) * 1000
        rows.append(row)
    return pd.DataFrame(rows)


def run_replay(base: Pipeline, events: Sequence[querylog.Event],
               notes: Mapping[str, Sequence[Note]], *, query_ttl_s: int,
               semantic_threshold: float, quantum_s: float = 300.0,
               progress: bool = False, label: str = "replay") -> pd.DataFrame:
    """One replay from cold caches and fresh library copies, with the given query TTL (also
    the semantic cache's) and semantic threshold; the other TTLs are ``base``'s.

    ``base`` is a pipeline whose settings came from :func:`cache_settings` (its databases and
    state folder are kept).
    """
    settings = base.parts.settings.with_overrides(semantic_cache_threshold=semantic_threshold,
                                            query_cache_ttl_s=int(query_ttl_s))
    from rag_core.parts import build_redis

    clock = SimClock(build_redis(settings), quantum_s)
    clock.clear()  # every replay from empty caches: the same log gives the same outcomes
    pipe = pipeline_for(base, settings, clock)
    prepare_users(pipe, log_users(events), notes)
    rows = replay(pipe, events, notes, clock, progress=progress, label=label)
    rows.attrs.update(clock_steps=clock.steps, expired=clock.expired)
    return rows


def sweep(base: Pipeline, events: Sequence[querylog.Event], notes: Mapping[str, Sequence[Note]],
          points: Iterable[Mapping[str, float]], *, quantum_s: float = 300.0,
          progress: bool = False) -> pd.DataFrame:
    """One replay per point (``query_ttl_s``, ``semantic_threshold``): one row of rates each."""
    out = []
    for point in points:
        ttl, threshold = int(point["query_ttl_s"]), float(point["semantic_threshold"])
        rows = run_replay(base, events, notes, query_ttl_s=ttl, semantic_threshold=threshold,
                          quantum_s=quantum_s, progress=progress,
                          label=f"ttl={ttl} threshold={threshold:g}")
        out.append(sweep_row(ttl, threshold, layer_rates(rows)))
    return pd.DataFrame(out)


def semantic_policy(settings: Settings) -> Policy:
    """The semantic-cache decision's rules and threshold as the pipeline of ``settings`` uses
    them (for scoring the labelled pairs with exactly that policy)."""
    from rag_core.cache.semantic import policy_for

    return policy_for(settings)
