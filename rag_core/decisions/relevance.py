"""Do the retrieved notes answer the question at all? The no-context decision of step 4.

One cosine is not enough: a question about another user's sermon (or about something no note
mentions) still finds the asker's notes on the same theme at cosine 0.35-0.50. So the decision
looks at several things, all from the retrieval the pipeline did anyway, without the LLM:

``retrieved``   at least one chunk came back;
``similarity``  the best dense cosine of the chunks reaches ``Settings.similarity_threshold``
                (a floor: below it nothing is close);
``names``       every proper name of the question (spaCy: a person, place, book or event) occurs
                in the retrieved chunks or their metadata: a question about "Nehemiah" is not
                answered by notes that never name him;
``front_matter`` a year, month, speaker or chapter named matches a retrieved note
                (``front_matter.py``);
``numbers``     every number the question names ("the five thousand") is in the chunks
                (``quantities.py``);
``coverage``    the share of the question's nouns (lemmas) found in the retrieved chunks
                reaches ``relevance_min_coverage``, unless the best cosine is at least
                ``relevance_confident`` (a close paraphrase may share few words). A noun the
                chunks lack counts as found when a word of theirs means nearly the same: word
                vectors at cosine >= ``relevance_word_similarity``
                (``rag_core.decisions.word_match``;
                "sibling" for "niece", "rock" for "stone"). What the question is "about"
                (the noun after it, a gerund: "about fasting") must be found whatever the
                cosine;
``value``       an age, duration, count or name asked is given on its subject
                (``answer_value.py``).

The decision takes the chunks with their dense scores (``Chunk.score``) and ranks, whatever
retrieval mode or lexical ranking produced them. It records what every rule saw
(``RelevanceDecision.to_dict``, shown in the answer's ``decisions``). Thresholds were chosen on
the dev split (``evals/quality/relevance_eval.py``; gate reasons in ``evals/gates.toml``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from rag_core.config import Settings, fixed
from rag_core.decisions import front_matter, lemma_sets, nlp, quantities
from rag_core.decisions.answer_value import value_check
from rag_core.decisions.word_match import WordMatcher
from rag_core.types import Chunk

RULES = ("retrieved", "similarity", "front_matter", "names", "numbers", "coverage", "value")


@dataclass(frozen=True)
class RelevancePolicy:
    floor: float = 0.25
    min_coverage: float = 0.66
    confident: float = 0.45
    names: bool = True
    coverage: bool = True
    depth: int = 0  # best chunks (by dense score) whose words count; 0: all retrieved
    nouns_only: bool = True  # coverage of the question's nouns (its topic), not its verbs
    word_similarity: float = 0.6  # a missing noun matched by a near word; > 1 turns it off
    front_matter: bool = True  # a year, month or speaker named: a note whose front matter says so
    value: bool = True  # an age, duration, count or name asked: a sentence on its subject has one
    numbers: bool = True  # a number the question names ("the five thousand") is in the notes
    topics: bool = True  # coverage counts the gerund or church word a question is about

    @classmethod
    def from_settings(cls, settings: Settings) -> RelevancePolicy:
        return cls(floor=settings.similarity_threshold,
                   min_coverage=fixed.RELEVANCE_MIN_COVERAGE,
                   confident=fixed.RELEVANCE_CONFIDENT,
                   names=fixed.RELEVANCE_NAMES, coverage=fixed.RELEVANCE_COVERAGE,
                   word_similarity=fixed.RELEVANCE_WORD_SIMILARITY)


@dataclass(frozen=True)
class RelevanceDecision:
    answer: bool
    reason: str  # "relevant" or the first rule that refused
    checks: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"answer": self.answer, "reason": self.reason, "checks": self.checks}


# What every note is, by its schema (front matter fields and what a note records): a question
# about "the sermon", "the series" or "the speaker" is about any note's metadata.
SCHEMA_WORDS = frozenset({"sermon", "message", "note", "series", "speaker", "preacher",
                          "title", "date", "scripture", "passage", "verse", "tag", "topic"})


def _chunk_words(chunks: Sequence[Chunk]) -> set[str]:
    texts: list[str] = []
    for chunk in chunks:
        meta = chunk.metadata or {}
        extra = " ".join(str(v) for k in ("title", "speaker", "series", "date")
                         if (v := meta.get(k)))
        extra += " " + " ".join(str(v) for k in ("tags", "scripture") for v in meta.get(k) or [])
        texts += [chunk.text, extra]
    return set(SCHEMA_WORDS) | lemma_sets.lemmas_of(texts)


def _named(name: str, words: set[str]) -> bool:
    return name in words or name.rstrip("s") in words or name + "s" in words


def _candidates(words: set[str]) -> list[str]:
    """The chunks' words worth comparing a missing noun with (no stop words, no fragments)."""
    stop = lemma_sets.stop_words()
    return sorted(w for w in words if len(w) > 2 and w.isalpha() and w not in stop)


def decide_relevance(query: str, chunks: Sequence[Chunk], settings: Settings | None = None,
                     policy: RelevancePolicy | None = None,
                     matcher: WordMatcher | None = None) -> RelevanceDecision:
    """Answer from these chunks, or say that the notes have nothing on it (and why).
    ``matcher``: near words for the coverage rule (without it, exact lemmas only)."""
    policy = policy or (RelevancePolicy.from_settings(settings) if settings else
                        RelevancePolicy())
    checks: dict[str, dict[str, Any]] = {}
    checks["retrieved"] = {"passed": bool(chunks), "detail": f"{len(chunks)} chunks"}
    best = max((c.score for c in chunks), default=0.0)
    checks["similarity"] = {"passed": best >= policy.floor,
                            "detail": f"best cosine {best:.3f} vs floor {policy.floor:.3f}"}
    ranked = sorted(chunks, key=lambda c: c.score, reverse=True)
    facts = nlp.facts(query)
    if policy.front_matter:
        wanted = front_matter.filters(facts, ranked)
        if wanted:
            kept = front_matter.matching(ranked, wanted)
            checks["front_matter"] = {
                "passed": bool(kept),
                "detail": f"{len(kept)} of {len(ranked)} chunks from notes of {wanted.describe()}"
                if kept else f"no note found of {wanted.describe()}"}
    words = _chunk_words(ranked[:policy.depth] if policy.depth else ranked)
    if policy.names:
        missing = sorted(n for n in facts.names if not _named(n, words))
        checks["names"] = {"passed": not missing,
                           "detail": f"not in the notes found: {missing}" if missing
                           else f"all of {sorted(facts.names)} found"}
    if policy.numbers and (named := quantities.question_values(query)):
        held = quantities.values(_texts(ranked))
        absent = sorted(f"{v:g}" for v in named - held)
        checks["numbers"] = {"passed": not absent,
                             "detail": f"not in the notes found: {absent}" if absent
                             else f"all of {sorted(f'{v:g}' for v in named)} found"}
    if policy.coverage:
        topics = _topic_words(query) if policy.topics else ()
        checks["coverage"] = _coverage(facts, topics, words, best, policy, matcher)
    near = matcher.closest if matcher is not None and policy.word_similarity <= 1.0 else None
    if policy.value and (verdict := value_check(
            facts, [c.text for c in ranked], near,
            [str((c.metadata or {}).get("speaker") or "") for c in ranked])):
        checks["value"] = verdict
    failed = [r for r in RULES if r in checks and not checks[r]["passed"]]
    return RelevanceDecision(answer=not failed, reason=failed[0] if failed else "relevant",
                             checks=checks)


def _texts(chunks: Sequence[Chunk]) -> str:
    """The chunks' text and the front matter they carry, as one text."""
    return "\n".join(f"{(c.metadata or {}).get('title', '')}\n{c.text}" for c in chunks)


@lru_cache(maxsize=1024)
def _topic_words(query: str) -> tuple[str, ...]:
    """What the question is about: the noun after "about", a gerund after a preposition with
    no noun of its own ("about fasting": fast), and a church word spaCy tags as a name but
    ``nlp.DOMAIN_COMMON`` keeps out of the names, as the object of a verb or a preposition
    ("keeping the Sabbath", "about Jesus")."""
    out = []
    doc = nlp.nlp()(query)
    refs = nlp.reference_tokens(doc)  # a scripture reference is the scripture rule's to judge
    for t in doc:
        if t.i in refs or any(c.isdigit() for c in t.text):
            continue
        if t.tag_ == "VBG" and t.dep_ in ("pcomp", "pobj") and not any(
                c.dep_ in ("dobj", "pobj", "prep") for c in t.children):
            out.append(t.lemma_.lower())
        elif t.dep_ == "pobj" and t.head.lower_ == "about" and t.pos_ == "NOUN" \
                and t.lemma_.lower() not in SCHEMA_WORDS and not t.is_stop:
            out.append(t.lemma_.lower())  # "about kneeling", "about tithes"
        elif t.pos_ == "PROPN" and t.lower_ in nlp.DOMAIN_COMMON and (
                t.dep_ == "dobj" or (t.dep_ == "pobj" and t.head.lower_ != "of")):
            out.append(t.lower_)  # not a word of another noun ("the armour of God")
    return tuple(out)


def _coverage(facts: nlp.Facts, topics: Sequence[str], words: set[str], best: float,
              policy: RelevancePolicy, matcher: WordMatcher | None) -> dict[str, Any]:
    content = list(dict.fromkeys([*(facts.nouns if policy.nouns_only else facts.content),
                                  *topics]))
    found = [w for w in content if w in words]
    near: dict[str, tuple[float, str]] = {}

    def share() -> float:
        return (len(found) + len(near)) / len(content) if content else 1.0

    if (matcher is not None and policy.word_similarity <= 1.0 and share() < policy.min_coverage
            and best < policy.confident):
        missing = [w for w in content if w not in words]
        near = {w: m for w, m in matcher.closest(missing, _candidates(words)).items()
                if m[0] >= policy.word_similarity}
    # what the question is "about" must be found (or a near word), however close the cosine
    lost = [w for w in topics if w not in words and w not in near]
    if lost and matcher is not None and policy.word_similarity <= 1.0:
        lost = [w for w, m in matcher.closest(lost, _candidates(words)).items()
                if m[0] < policy.word_similarity]
    ok = (share() >= policy.min_coverage or best >= policy.confident) and not lost
    shown = "".join(f"; {w}~{m} {sim:.2f}" for w, (sim, m) in near.items())
    return {"passed": ok, "detail": (
        f"{len(found) + len(near)}/{len(content)} content words in the best chunks "
        f"({share():.2f} vs {policy.min_coverage:.2f}{shown}); best cosine {best:.3f} vs "
        f"confident {policy.confident:.3f}" + (f"; the topic {lost} not found" if lost else ""))}
