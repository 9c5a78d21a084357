"""The parts of the service in one typed, frozen container, and the one place that builds them.

Every edge (the app, the CLI, the harness, benchmarks, tests) builds a ``Parts`` once and hands
it to whatever needs it: ``Pipeline(parts)`` answers questions, ``ingest_path(parts, ...)``
writes notes. A part is swapped with ``dataclasses.replace(parts, generator=...)``, never by
assignment.

The variants the harness, benchmarks and load tests run are made here too (``variant``: another
generator, changed settings, fresh caches on a simulated clock, a reset breaker, injected
judges; ``reset_breakers``): code outside the package never assembles parts of its own.

Embedded servers are started by the edge, visibly, with ``services.resolve(settings)`` before
``build_parts``: nothing here starts a process. A CLI command that needs only one part calls
that part's builder (``build_store``, ``build_caches``, ...) and nothing else.

The limits are parts too (``Parts.limiters``, ``build_limiters``): the question gate, the work
slots, the write quota and the user-limits table, one of each per ``Parts``, never made by the
app or a route on first use.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from rag_core.cache.layers import CacheLayers, layers_for
from rag_core.cache.semantic import judge_for
from rag_core.config import Settings
from rag_core.conversations.rules import rewrite_by_rules
from rag_core.conversations.store import ConversationStore
from rag_core.conversations.turns import Rewriter
from rag_core.costs.ledger import CostLedger, ledger_for
from rag_core.decisions.judges import FactsJudge, Judges, SemanticJudge
from rag_core.decisions.note_facts import NotesMemo
from rag_core.decisions.relevance import RelevancePolicy
from rag_core.embedding import Embedder
from rag_core.embedding.fallback import FallbackEmbedder
from rag_core.errors import RagError
from rag_core.limits.gate import QuestionGate
from rag_core.limits.limiters import Limiters, limits_on
from rag_core.limits.slots import WorkSlots, slots_for
from rag_core.limits.write_quota import WriteQuota
from rag_core.llm import build_generator as generator_of
from rag_core.llm import reset_breakers as reset_breakers_of
from rag_core.llm.base import GuardedGenerator
from rag_core.redis_kv.client import RedisClient, client_for
from rag_core.store.base import Store
from rag_core.store.pgvector import store_for
from rag_core.store.records import MemoryRecords, Records
from rag_core.store.user_limits import UserLimitsTable, user_limits_for
from rag_core.tokens import TokenCounter, default_counter


class ServicesNotResolved(RagError):
    code = "SERVICES_NOT_RESOLVED"
    default_message = ("Settings name no database or Redis: call services.resolve(settings) at "
                       "the edge first, or set DATABASE_URL and REDIS_URL.")


@dataclass(frozen=True)
class Parts:
    """What the pipeline and ingestion work with. Frozen: swap a part with ``replace``."""

    settings: Settings
    store: Store
    embedder: Embedder
    caches: CacheLayers
    generator: GuardedGenerator
    ledger: CostLedger
    counter: TokenCounter
    # the no-context and semantic judges, built once (``build_judges``)
    judges: Judges
    # the gate, the work slots, the write quota, the user-limits table (``build_limiters``)
    limiters: Limiters
    sanitiser: bool = True  # the harness turns it off to measure what it stops
    # answer records, verdicts, the query log: the store's PostgreSQL, else in process
    records: Records = field(default_factory=MemoryRecords)
    # conversations (issue 80): in Redis beside the caches, else in process; None: none kept
    conversations: ConversationStore | None = None
    # makes a follow-up stand alone from its history (the rules; the model's rewrite falls
    # back to it); None: taken as asked
    rewriter: Rewriter | None = rewrite_by_rules

    def ready(self) -> dict[str, Any]:
        """The readiness checks, cheap enough for every probe (the ``llm`` check reports a
        remembered misconfiguration; it never calls the model)."""
        return {
            "postgres": self.store.ping(),
            "postgres_replica": self.store.replica_status(),  # informative: never not-ready
            "redis": self.caches.ping(),
            "model_loaded": self.embedder.loaded,
            # the runtime computing the vectors: the configured one, or its fallback
            "embedding_runtime": getattr(self.embedder, "backend", None),
            "breaker": self.generator.state,
            "llm": self.generator.check_config(),
        }

    def close(self) -> None:
        self.caches.close()
        self.ledger.close()  # the request counts pending, while the store is open
        self.store.close()


def _require_database(settings: Settings) -> str:
    if not settings.services.database_url:
        raise ServicesNotResolved()
    return settings.services.database_url


def build_store(settings: Settings) -> Store:
    """The pgvector store, with its schema applied (idempotent)."""
    _require_database(settings)
    store = store_for(settings)
    store.ensure_schema()
    return store


def build_redis(settings: Settings) -> RedisClient | None:
    """The shared Redis client of this process (``redis.Redis``, or ``RedisCluster`` when
    ``RAG_REDIS_MODE=cluster``), or None when Settings name no Redis (then every layer, the
    breaker and the ledger live in process)."""
    return client_for(settings)


def build_embedder(settings: Settings) -> Embedder:
    """The embedding runtime of ``RAG_EMBEDDING_BACKEND`` (loaded lazily, once per process),
    falling back to the next that works when it cannot load or embed (``embedding.fallback``)."""
    return FallbackEmbedder.of(settings)


def build_caches(settings: Settings, client: RedisClient | None, judge: SemanticJudge,
                 store: Store | None = None, *,
                 clock: Callable[[], float] | None = None) -> CacheLayers:
    """The cache layers; ``judge`` decides on the semantic cache's candidates
    (``judges.semantic`` of ``build_judges``, or ``build_semantic_judge`` where no decision is
    asked); with the ``store`` whose notes they cache, a note change that its process could not
    write to Redis is redone by any other process (``cache.versions``); ``clock`` (seconds):
    the expiry of the in-process context cache and of the semantic entries runs on it (a
    replay on simulated time)."""
    return layers_for(
        settings, client, judge=judge, clock=clock,
        version_debts=store.version_debts if store is not None else None)


def build_semantic_judge(settings: Settings) -> SemanticJudge:
    """The semantic judge of ``settings``' mode: what ``build_judges`` gives the caches; alone,
    for caches that a command clears or counts (or a test fills) without the pipeline."""
    return judge_for(settings)


def build_judges(settings: Settings, store: Store, notes: NotesMemo | None = None) -> Judges:
    """The no-context judge (the score floor and the facts of the user's notes, ``notes``: a
    ``NotesMemo`` to share, else one over ``store``) and the semantic judge of the mode."""
    notes = notes or NotesMemo(store.user_texts)
    return Judges(no_context=FactsJudge(RelevancePolicy.from_settings(settings), notes),
                  semantic=build_semantic_judge(settings), notes=notes)


def build_generator(settings: Settings, client: RedisClient | None) -> GuardedGenerator:
    """The generator of ``settings.llm``; for ``hf``, with the HTTP client of the hosted model
    built here, once, and passed in. With ``RAG_LLM_FALLBACK_BASE_URL``, the second provider
    behind the first, and with ``RAG_LLM_ROUTE=on`` the cheap model in front of it
    (``rag_core.llm.failover``, ``rag_core.llm.route``), each with a client and a breaker of
    its own."""
    if settings.generation.llm != "hf":
        return generator_of(settings, client)
    from rag_core.llm.hf import make_client  # lazy: the hosted model's client, hf only

    calls = settings.model_calls
    first = generator_of(settings, client, llm_client=make_client(calls))
    routed = settings.routing.llm_route == "on"
    if not calls.llm_fallback_base_url and not routed:
        return first
    # lazy: with a fallback provider or the cheap model only
    from rag_core.llm.failover import Failover, fallback_generator, fallback_sections
    from rag_core.llm.route import cheap_generator, cheap_sections

    second = cheap = None
    if calls.llm_fallback_base_url:
        second_calls = fallback_sections(settings.generation, calls)[1]
        second = fallback_generator(settings.generation, calls, client,
                                    llm_client=make_client(second_calls))
    if routed:
        sections = (settings.generation, settings.routing, settings.cheap_model, calls)
        cheap = cheap_generator(*sections, client,
                                llm_client=make_client(cheap_sections(*sections)[1]))
    return Failover(first, second, cheap=cheap)


def build_ledger(settings: Settings, client: RedisClient | None,
                 store: Store | None) -> CostLedger:
    return ledger_for(client, settings, costs=store.costs if store is not None else None)


def build_limiters(settings: Settings, client: RedisClient | None,
                   user_limits: UserLimitsTable, *,
                   clock: Callable[[], float] | None = None) -> Limiters:
    """The limits of ``settings``: the question gate (None with every question limit off)
    counting in ``client`` (None: in process), reading a user's own limits from
    ``user_limits`` (``user_limits_for(store)``, or the table of the parts these replace); the
    work slots; the write quota in ``client``. ``clock`` (seconds since the epoch): the gate's
    and the quota's windows run on it (a test's own)."""
    clock = clock or time.time
    gate = (QuestionGate(settings.limits, client, user_limits, clock=clock)
            if limits_on(settings.limits) else None)
    return Limiters(user_limits=user_limits, gate=gate,
                    slots=WorkSlots(slots_for(settings.limits.work_slots)),
                    quota=WriteQuota(settings.auth, client, clock=clock))


def build_parts(settings: Settings, *, counter: TokenCounter | None = None) -> Parts:
    """Every part, from Settings whose ``database_url`` is set (``services.resolve``)."""
    store = build_store(settings)
    client = build_redis(settings)
    judges = build_judges(settings, store)
    return Parts(
        settings=settings,
        store=store,
        embedder=build_embedder(settings),
        caches=build_caches(settings, client, judges.semantic, store),
        generator=build_generator(settings, client),
        ledger=build_ledger(settings, client, store),
        counter=counter or default_counter(),
        records=getattr(store, "records", None) or MemoryRecords(),
        judges=judges,
        limiters=build_limiters(settings, client, user_limits_for(store)),
        conversations=ConversationStore(client, settings.conversations),
    )


def parts_for(settings: Settings) -> Parts:
    """``build_parts`` after starting (or finding) the embedded servers that Settings need:
    the one call for an edge that wants everything."""
    from rag_core import services  # lazy: the embedded servers, for the edges that start them

    return build_parts(services.resolve(settings))


def _under(parts: Parts, settings: Settings, judges: Judges | None = None) -> Parts:
    """``parts`` with ``settings``: the caches take the sections they hold from them, the
    judges are those of the settings (sharing the facts of the notes read so far) unless
    ``judges`` are given, and the limits are those of the settings when their sections
    changed (the user-limits table shared)."""
    judges = judges or build_judges(settings, parts.store, parts.judges.notes)
    caches = parts.caches.under(settings, judges.semantic)
    caches.truth = parts.caches.truth  # one view of the notes versions (restarts, debts)
    limiters = _limiters_for(parts.limiters, parts.settings, settings)
    return replace(parts, settings=settings, caches=caches, judges=judges, limiters=limiters)


def _limiters_for(limiters: Limiters, was: Settings, settings: Settings) -> Limiters:
    """``limiters`` (made of ``was``), or new ones of ``settings`` when the sections they are
    made of changed (the user-limits table shared)."""
    if (settings.limits, settings.auth) == (was.limits, was.auth):
        return limiters
    return build_limiters(settings, build_redis(settings), limiters.user_limits)


def with_settings(parts: Parts, **overrides: Any) -> Parts:
    """The same parts (store, model, caches, generator, ledger) under changed pipeline
    settings (budgets, top_k, retrieval mode, thresholds): what a sweep of the harness varies.
    Connections and loaded models are shared, nothing is rebuilt."""
    return _under(parts, parts.settings.with_overrides(**overrides))


def variant(parts: Parts, *, settings: Settings | None = None,
            generator: GuardedGenerator | None = None, embedder: Embedder | None = None,
            sanitiser: bool | None = None, fresh_caches: bool = False,
            clock: Callable[[], float] | None = None, reset_breaker: bool = False,
            judges: Judges | None = None) -> Parts:
    """``parts`` with some of them swapped: every variant the harness, the benchmarks and the
    load tests run. What is not named is shared (connections, loaded models, the store).

    ``settings``: other Settings, whose sections the caches take (``with_settings`` for a few
    flat names). ``generator``: another generator (a recorder, a sibling model).
    ``embedder``: another embedder (a memo in front of the loaded one). ``sanitiser``: the
    retrieved text's sanitiser on or off. ``fresh_caches``: new, empty cache layers and cost
    totals of the settings on a Redis client of their own, recording no cost rows in
    PostgreSQL (a replay); ``clock`` (seconds) then drives the expiry of the in-process
    context cache and of the semantic entries. ``reset_breaker``: the generator's circuit
    breaker closed, its shared state cleared. ``judges``: the decisions' judges, passed to
    ``Parts`` as they are (``evals`` may pass experimental ones)."""
    if clock is not None and not fresh_caches:
        raise ValueError("a clock drives fresh caches only: pass fresh_caches=True")
    settings = settings if settings is not None else parts.settings
    changes: dict[str, Any] = {}
    if generator is not None:
        changes["generator"] = generator
    if embedder is not None:
        changes["embedder"] = embedder
    if sanitiser is not None:
        changes["sanitiser"] = sanitiser
    if fresh_caches:
        client = build_redis(settings)
        judges = judges or build_judges(settings, parts.store, parts.judges.notes)
        changes["caches"] = build_caches(settings, client, judges.semantic, clock=clock)
        changes["ledger"] = build_ledger(settings, client, None)
        changes["limiters"] = _limiters_for(parts.limiters, parts.settings, settings)
        made = replace(parts, settings=settings, judges=judges, **changes)
    else:
        made = replace(_under(parts, settings, judges), **changes)
    if reset_breaker:
        reset = getattr(made.generator, "reset", None)
        if callable(reset):
            reset()
    return made


def reset_breakers(settings: Settings) -> None:
    """Every generator's circuit breaker in the Redis of ``settings`` closed, its shared state
    cleared: a run stopped in the middle of an outage leaves one open for the next."""
    reset_breakers_of(build_redis(settings))  # the process's shared client: left open
