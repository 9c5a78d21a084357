"""The designs of the semantic cache compared in docs/decisions.md, and what each costs a miss.

(a) embedding candidates decided by rules (the strict rule set shipped before, and the loose
rules), (b) the canonical-form match (``rag_core.decisions.semantic_canonical``: the service's
``strict``), (c) both: a canonical match first, else the rules (the loose rules with it are the
service's ``loose``). The rule sets that are no mode of the service live here only.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from dataclasses import replace

from evals.decisions import semantic_eval
from evals.decisions.coverage_rules import strict_before_rules
from evals.decisions.rule_sets import RuleSet, Similar, decide
from rag_core.cache.semantic import policy_for
from rag_core.config import Settings
from rag_core.decisions import semantic_rules as rules
from rag_core.decisions.semantic_canonical import canonical
from rag_core.text import nlp


def rules_policy(settings: Settings) -> RuleSet:
    """The strict mode before the canonical form: loose's fact rules with values and order
    words added on one side only when the other's evidence holds them, the roles rule
    (parties exchanged) and the word-by-word ``focus`` and ``coverage`` rules
    (``coverage_rules.strict_before_rules``); no ``detail`` or ``sentence`` rule."""
    loose = replace(policy_for(settings, "loose"), canonical="off")
    return RuleSet.of(loose, strict_before_rules, frozenset({"detail", "sentence"}))


def designs(settings: Settings) -> dict[str, rules.Policy]:
    """Every design measured, by the name the tables give it."""
    strict_rules = rules_policy(settings)
    loose_rules = replace(policy_for(settings, "loose"), canonical="off")
    return {
        "(a) rules, strict before": strict_rules,
        "(a) loose rules": loose_rules,
        "(b) canonical form (strict)": policy_for(settings, "strict"),
        "(c) canonical + strict-before rules": replace(strict_rules, canonical="first"),
        "(c) canonical + loose rules (loose)": policy_for(settings, "loose"),
    }


def miss_latency(rows: Sequence[semantic_eval.PairEvidence], policy: rules.Policy,
                 similar: Similar | None = None) -> dict[str, float]:
    """Milliseconds one decision adds to a question that is not reused: the cached side's
    facts and canonical form already parsed (the canonical form is stored with an entry; the
    facts are memoised in a process that asked it), the new side's computed afresh
    (each new question timed once, the first time it is met; memoised parses emptied)."""
    nlp.facts.cache_clear()
    nlp.parse.cache_clear()
    canonical.cache_clear()
    cached = {str(r.pair["a"]) for r in rows}
    for text in cached:
        nlp.facts(text)
        canonical(text)
    seen: set[str] = set()
    times = []
    for row in rows:
        new = str(row.pair["b"])
        if new in seen or new in cached:
            continue
        seen.add(new)
        start = time.perf_counter()
        decision = decide(new, str(row.pair["a"]), row.similarity, policy, row.b, row.a,
                          similar)
        if not decision.hit:
            times.append((time.perf_counter() - start) * 1000)
    if not times:
        return {"misses_timed": 0, "median_ms": 0.0, "mean_ms": 0.0}
    return {"misses_timed": len(times), "median_ms": statistics.median(times),
            "mean_ms": statistics.fmean(times)}
