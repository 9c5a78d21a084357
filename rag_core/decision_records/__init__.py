"""What each decision of the pipeline recorded about an answer, typed: the parts of
``Decisions`` (the semantic cache's lookup, the no-context decision before the model, the
filters' match, the model's decline, the filters read from the question, the model routing's
choice), and ``Decisions`` itself, what ``rag_core.answer.Answer`` carries. Each
record writes its JSON (``to_dict``) and reads it back (``from_dict``, tolerant of a field that
is missing: a record kept in a cache before the field existed). This package imports only the
ground floor (``rag_core.types``): the pipeline's rooms and the edge all read it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields

from rag_core.types import JsonObject


@dataclass(frozen=True)
class RuleCheck:
    """One rule's verdict in a decision, and what the rule saw, in words."""

    passed: bool
    detail: str = ""

    def to_dict(self) -> JsonObject:
        return {"passed": self.passed, "detail": self.detail}


def _checks_to_dict(checks: Mapping[str, RuleCheck]) -> JsonObject:
    return {rule: check.to_dict() for rule, check in checks.items()}


def _checks_from(data: object) -> dict[str, RuleCheck]:
    if not isinstance(data, Mapping):
        return {}
    return {str(rule): RuleCheck(bool(c.get("passed")), str(c.get("detail") or ""))
            for rule, c in data.items() if isinstance(c, Mapping)}


def _words(data: object) -> tuple[str, ...]:
    return tuple(str(w) for w in data) if isinstance(data, list | tuple) else ()


@dataclass(frozen=True)
class SemanticRecord:
    """The semantic cache's lookup: a cached answer to another wording reused (``hit``) or
    not. ``reason``: ``reuse``, the rule that refused, or ``no_candidate`` (then ``why`` says
    it in words, and there is no similarity, question or check). ``candidates``: the cached
    questions close enough (None in a record kept before it was counted)."""

    hit: bool
    reason: str
    similarity: float | None = None  # the cosine of the decided candidate, to 4 places
    matched_query: str | None = None
    checks: dict[str, RuleCheck] = field(default_factory=dict)
    candidates: int | None = None
    why: str | None = None

    def to_dict(self) -> JsonObject:
        data: JsonObject = {"hit": self.hit, "reason": self.reason}
        if self.why is not None:
            data["why"] = self.why
        else:
            data.update(similarity=self.similarity, matched_query=self.matched_query,
                        checks=_checks_to_dict(self.checks))
        if self.candidates is not None:
            data["candidates"] = self.candidates
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> SemanticRecord:
        similarity, matched, why, candidates = (data.get("similarity"), data.get("matched_query"),
                                                data.get("why"), data.get("candidates"))
        return cls(hit=bool(data.get("hit")), reason=str(data.get("reason") or ""),
                   similarity=float(similarity) if isinstance(similarity, int | float) else None,
                   matched_query=str(matched) if matched is not None else None,
                   checks=_checks_from(data.get("checks")),
                   candidates=candidates if isinstance(candidates, int) else None,
                   why=str(why) if why is not None else None)


@dataclass(frozen=True)
class RelevanceRecord:
    """The no-context decision before the model: may these notes answer (``answer``)?
    ``reason``: ``relevant``, or the first rule that refused."""

    answer: bool
    reason: str
    checks: dict[str, RuleCheck] = field(default_factory=dict)

    def to_dict(self) -> JsonObject:
        return {"answer": self.answer, "reason": self.reason,
                "checks": _checks_to_dict(self.checks)}

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> RelevanceRecord:
        return cls(answer=bool(data.get("answer", True)), reason=str(data.get("reason") or ""),
                   checks=_checks_from(data.get("checks")))


@dataclass(frozen=True)
class FiltersRecord:
    """The request's filters (their fields that are set, as sent back), in words, and
    whether any note passes them."""

    matched: bool
    filters: dict[str, str | list[str]]
    described: str

    def to_dict(self) -> JsonObject:
        return {"matched": self.matched, "filters": dict(self.filters),
                "described": self.described}

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> FiltersRecord:
        given = data.get("filters")
        filters = {str(k): (list(_words(v)) if isinstance(v, list | tuple) else str(v))
                   for k, v in given.items()} if isinstance(given, Mapping) else {}
        return cls(bool(data.get("matched")), filters, str(data.get("described") or ""))


@dataclass(frozen=True)
class DeclineRecord:
    """The model read the notes and replied with the decline marker: who, and how."""

    by: str
    detail: str

    def to_dict(self) -> JsonObject:
        return {"by": self.by, "detail": self.detail}

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> DeclineRecord:
        return cls(str(data.get("by") or ""), str(data.get("detail") or ""))


@dataclass(frozen=True)
class NarrowedRecord:
    """The filters read from the question (``answers.narrowing``), in words: only the fields
    that are set are written."""

    speaker: tuple[str, ...] = ()
    series: tuple[str, ...] = ()
    year: str | None = None
    speaker_words: tuple[str, ...] = ()
    described: str = ""

    def to_dict(self) -> JsonObject:
        full: JsonObject = {"speaker": list(self.speaker), "series": list(self.series),
                            "year": self.year, "speaker_words": list(self.speaker_words)}
        return {**{k: v for k, v in full.items() if v}, "described": self.described}

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> NarrowedRecord:
        year = data.get("year")
        return cls(_words(data.get("speaker")), _words(data.get("series")),
                   str(year) if year else None, _words(data.get("speaker_words")),
                   str(data.get("described") or ""))


@dataclass(frozen=True)
class RouteRecord:
    """Model routing's choice (``rag_core.llm.route``): the route (``cheap`` or ``main``), the
    model it named, ``reason`` (``easy``, or the first rule that kept the question off the
    cheap model), each rule's verdict, and whether the cheap model failed and the main one
    answered (``fell_back``)."""

    route: str
    model: str
    reason: str
    checks: dict[str, RuleCheck] = field(default_factory=dict)
    fell_back: bool = False

    def to_dict(self) -> JsonObject:
        return {"route": self.route, "model": self.model, "reason": self.reason,
                "checks": _checks_to_dict(self.checks), "fell_back": self.fell_back}

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> RouteRecord:
        return cls(str(data.get("route") or ""), str(data.get("model") or ""),
                   str(data.get("reason") or ""), _checks_from(data.get("checks")),
                   bool(data.get("fell_back")))


@dataclass(frozen=True)
class StandaloneRecord:
    """How a conversation's question was made to stand alone (``conversations``): ``made_by``
    ``model``, ``rules`` or ``unchanged``, and why; per request, never from a cache."""

    question: str
    made_by: str
    reason: str = ""

    def to_dict(self) -> JsonObject:
        return {"question": self.question, "made_by": self.made_by, "reason": self.reason}

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> StandaloneRecord:
        return cls(str(data.get("question") or ""), str(data.get("made_by") or "unchanged"),
                   str(data.get("reason") or ""))


__all__ = ["DeclineRecord", "FiltersRecord", "JsonObject", "NarrowedRecord", "RelevanceRecord",
           "RouteRecord", "RuleCheck", "SemanticRecord", "StandaloneRecord"]


# --- the decisions an answer carries, typed (``Answer.decisions``), and the reasons they give.
# Each part is a record of what its decision saw: the semantic cache's lookup
# (``SemanticRecord``), the no-context decision before the model (``RelevanceRecord``), the
# filters' match (``FiltersRecord``), the model's decline (``DeclineRecord``) and the filters
# read from the question (``NarrowedRecord``); a decision the request did not reach is None.
# They become JSON in one place, ``Decisions.to_dict`` (``ask --json``, the API's
# ``decisions``, a cached answer), and are read back by ``Decisions.from_dict``;
# ``cache_reason`` and ``no_context_reason`` phrase them (a short code and a phrase), so that
# an answer read back from the cache explains itself the same way.

# what each rule of the no-context decision found missing, in a phrase (the rule's own detail
# follows it); a rule not named here is shown by its name
_NOT_FOUND = {
    "retrieved": "nothing was retrieved from your notes",
    "similarity": "nothing in your notes is close enough",
    "names": "a name the question uses is in none of your notes",
    "numbers": "a number the question names is in none of your notes",
    "dates": "a date the question names is in none of your notes",
    "scripture": "a scripture reference the question names is in none of your notes",
}


@dataclass
class Decisions:
    semantic: SemanticRecord | None = None  # reuse or not, every rule's verdict (or no_candidate)
    relevance: RelevanceRecord | None = None  # the no-context decision before the model
    filters: FiltersRecord | None = None  # whether a note passes the request's filters
    declined: DeclineRecord | None = None  # the model replied with the decline marker
    narrowed: NarrowedRecord | None = None  # filters read from the question (``answers.scope``)
    route: RouteRecord | None = None  # which model routing sent the question to (``llm.route``)
    standalone: StandaloneRecord | None = None  # a conversation's question made to stand alone

    def recorded(self) -> bool:
        """Whether any decision was recorded."""
        return any(getattr(self, f.name) is not None for f in fields(self))

    def to_dict(self) -> JsonObject:
        """The JSON of the decisions recorded, in the order of the fields."""
        return {f.name: part.to_dict() for f in fields(self)
                if (part := getattr(self, f.name)) is not None}

    @classmethod
    def from_dict(cls, data: Mapping[str, object] | None) -> Decisions:
        """``to_dict`` read back (a part that is missing or not an object stays None)."""
        data = data or {}

        def part(name: str) -> Mapping[str, object] | None:
            value = data.get(name)
            return value if isinstance(value, Mapping) else None

        semantic, relevance, filters = part("semantic"), part("relevance"), part("filters")
        declined, narrowed, route = part("declined"), part("narrowed"), part("route")
        standalone = part("standalone")
        return cls(
            semantic=SemanticRecord.from_dict(semantic) if semantic is not None else None,
            relevance=RelevanceRecord.from_dict(relevance) if relevance is not None else None,
            filters=FiltersRecord.from_dict(filters) if filters is not None else None,
            declined=DeclineRecord.from_dict(declined) if declined is not None else None,
            narrowed=NarrowedRecord.from_dict(narrowed) if narrowed is not None else None,
            route=RouteRecord.from_dict(route) if route is not None else None,
            standalone=StandaloneRecord.from_dict(standalone) if standalone is not None else None)

    def kept(self, no_context: bool) -> Decisions:
        """What an exact hit still explains: why this question got another question's answer
        (the semantic decision that reused it) or why the notes have nothing (relevance,
        filters). A generated answer's own decisions stay behind."""
        semantic = self.semantic if self.semantic and self.semantic.hit else None
        # the same question and notes: the same narrowing
        return Decisions(semantic, self.relevance if no_context else None,
                         self.filters if no_context else None, narrowed=self.narrowed)

    def cache_reason(self, cache: Mapping[str, str]) -> str:
        """``code: phrase``; the codes: exact_hit, semantic_reuse, semantic_refused,
        no_candidate, semantic_off, miss."""
        query, decision = cache.get("query"), self.semantic
        if query == "hit":
            if decision and decision.hit:
                return ("exact_hit: asked before, the answer first reused from "
                        f"{decision.matched_query!r}")
            return "exact_hit: the same question was answered from these notes before"
        if query == "semantic_hit" and decision:
            return (f"semantic_reuse: every rule passed against "
                    f"{decision.matched_query!r} (cosine {decision.similarity})")
        if cache.get("semantic") == "off":
            return "semantic_off: the semantic cache is off (RAG_SEMANTIC_MODE)"
        if decision is not None and not decision.hit:
            rule = decision.reason
            if rule == "no_candidate":
                return "no_candidate: no cached question close enough"
            check = decision.checks.get(rule)
            detail = check.detail if check is not None else ""
            return f"semantic_refused: {rule} ({detail})" if detail else \
                f"semantic_refused: {rule}"
        return "miss: not answered before"

    def no_context_reason(self, *, refused: bool = False) -> str:
        """``no_context_reason`` of an answer that is no_context: ``code: phrase``; the codes:
        refused (the question itself was refused), filter_no_match (no note passes the
        request's filters), not_found (the no-context decision before the model: its rule and
        what that rule saw), declined (the model read the notes and replied that they hold no
        answer), and no_context (anything else)."""
        if refused:
            return "refused: the question holds nothing to answer once unsafe text is removed"
        if self.filters and self.filters.matched is False:
            return f"filter_no_match: no note of yours matches {self.filters.described}"
        relevance = self.relevance
        if relevance and not relevance.answer:
            rule = relevance.reason
            check = relevance.checks.get(rule)
            detail = check.detail if check is not None else ""
            phrase = _NOT_FOUND.get(rule, rule.replace("_", " "))
            return f"not_found: {phrase} ({rule}: {detail})" if detail else \
                f"not_found: {phrase}"
        if self.declined:
            return "declined: the model read your notes and found no answer in them"
        return "no_context: no answer was made from your notes"
