"""What each decision of the pipeline recorded about an answer, typed: the parts of
``rag_core.types.Decisions`` (the semantic cache's lookup, the no-context decision before the
model, the filters' match, the model's decline, the filters read from the question, the model
routing's choice). Each
record writes its JSON (``to_dict``) and reads it back (``from_dict``, tolerant of a field that
is missing: a record kept in a cache before the field existed). This package imports nothing
of ``rag_core``: the pipeline's rooms and the edge all read it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

JsonObject = dict[str, object]  # a record as JSON: what ``json.dumps`` writes


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
