"""Rule sets that no mode of the service runs, measured against the ones it does: a service
``Policy`` with rules of evals/ added or put in place of its own (``RuleSet``), decided by
``decide``. The strict-before design (``designs.rules_policy``) is one; its coverage rule reads
near words from the embedder's word vectors (``Similar``), which the service never loads."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields

from rag_core.decisions import semantic_rules as rules
from rag_core.decisions.semantic_canonical import Check
from rag_core.text import nlp

# (words, candidates) -> {word: (cosine, closest candidate)}: near words
Similar = Callable[[Sequence[str], Sequence[str]], dict[str, tuple[float, str]]]
# (cached facts, new facts, cached evidence, new evidence, near words, policy) -> checks
ExtraRules = Callable[[nlp.Facts, nlp.Facts, rules.Evidence, rules.Evidence, Similar | None,
                       rules.Policy], list[Check]]


@dataclass(frozen=True)
class RuleSet(rules.Policy):
    """A policy with ``extra`` rules: a check named like one of the service's replaces it, any
    other is added (a rule in ``skip`` is left out either way: a knob of this research only,
    the service runs every rule of its mode)."""

    extra: ExtraRules | None = field(default=None, compare=False)
    skip: frozenset[str] = frozenset()  # rules whose checks are left out

    @classmethod
    def of(cls, policy: rules.Policy, extra: ExtraRules, skip: frozenset[str]) -> RuleSet:
        base = {f.name: getattr(policy, f.name) for f in fields(rules.Policy)}
        return cls(**base, extra=extra, skip=skip)


def decide(query: str, cached_query: str, similarity: float, policy: rules.Policy,
           new: rules.Evidence | None = None, cached: rules.Evidence | None = None,
           similar: Similar | None = None) -> rules.Decision:
    """``rules.decide`` under ``policy``, then a ``RuleSet``'s extra rules (not after a
    canonical match, which decides alone)."""
    new, cached = new or rules.Evidence(), cached or rules.Evidence()
    decision = rules.decide(query, cached_query, similarity, policy, new, cached)
    if not isinstance(policy, RuleSet) or any(c.rule == "canonical" for c in decision.checks):
        return decision
    added = policy.extra(nlp.facts(cached_query), nlp.facts(query), cached, new, similar,
                         policy) if policy.extra is not None else []
    replaced = {c.rule: c for c in added}
    checks = [replaced.pop(c.rule, c) for c in decision.checks] + list(replaced.values())
    return rules.Decision.of([c for c in checks if c.rule not in policy.skip], similarity,
                             cached_query)
