"""Rewrites of a question for the wording probe (``evals.decisions.wording_probe``), each a rule
on parts of speech, dependencies or the shape of a token, never a list of the items' words:

- ``KEEPING``: the same question as a user may write it (a number in digits or words, a unit or
  a month abbreviated or spelt out, a date in digits, names in lower case, a possessive turned
  round, a first name as its initial, the keywords alone, "what kind of", a filler before or
  after). The notes answer it exactly when they answer the original.
- ``CHANGING``: another question worded almost alike (from / to, before / after, for /
  against, a negation, the doer and the done-to exchanged, another number): a cache that
  reuses the original's answer for it serves a wrong answer.

Each returns the new question, or None when the question has nothing it applies to. The tables
of units and number words are English grammar, not the vocabulary of any data set.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rag_core.text import nlp, quantities

if TYPE_CHECKING:
    from spacy.tokens import Doc, Token

Rule = Callable[[str], "str | None"]

# unit words and the abbreviation a writer uses after a number ("5 km", "19 yrs")
UNITS = {"kilometre": "km", "kilometer": "km", "metre": "m", "meter": "m", "centimetre": "cm",
         "centimeter": "cm", "millimetre": "mm", "millimeter": "mm", "mile": "mi",
         "kilogram": "kg", "gram": "g", "pound": "lb", "ounce": "oz", "litre": "l",
         "liter": "l", "millilitre": "ml", "milliliter": "ml", "gallon": "gal", "foot": "ft",
         "inch": "in", "yard": "yd", "hour": "hr", "minute": "min", "second": "sec",
         "week": "wk", "month": "mo", "year": "yr", "percent": "%"}
SYMBOLS = frozenset({"km", "m", "cm", "mm", "kg", "g", "l", "ml", "%"})  # written on the digits
# abbreviations spelt out: those of two letters or more that are no common word ("in")
_SPELT = {a: w for w, a in UNITS.items() if len(a) > 1 and a != "in"
          and w not in ("meter", "kilometer", "centimeter", "millimeter", "liter", "milliliter")}
_SPELT |= {a + "s": w for a, w in list(_SPELT.items()) if a not in SYMBOLS} | {"lbs": "pound"}
_ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
         "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
         "eighteen", "nineteen"]
_TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_NUMBER_WORD = "|".join(sorted(quantities.NUMBER_WORDS - {"once", "twice", "thrice", "half",
                                                           "double", "triple", "dozen"},
                               key=len, reverse=True))
_NUMBER_RUN = re.compile(rf"\b(?:{_NUMBER_WORD})(?:(?:[\s-]+|\s+and\s+)(?:{_NUMBER_WORD}))*\b",
                         re.IGNORECASE)
_PLAIN_NUMBER = re.compile(r"^\d{1,3}(?:,\d{3})*$|^\d+$")
_YEARISH = re.compile(r"^(1[5-9]|20)\d\d$")
# what goes before a name without being one: titles, and the kin a family calls so
TITLES = nlp.HONORIFICS | {"uncle", "aunt", "auntie", "grandma", "grandpa", "granny", "nana",
                           "grandmother", "grandfather", "mama", "papa", "cousin"}
MONTHS = {n.lower(): i for i, n in enumerate(calendar.month_name) if n}
ABBREVIATED = {n.lower(): i for i, n in enumerate(calendar.month_abbr) if n}


def say(n: int) -> str:
    """``n`` (0 to 999,999) in words: "forty-six", "three hundred and ten"."""
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + (f"-{_ONES[n % 10]}" if n % 10 else "")
    if n < 1000:
        rest = n % 100
        return f"{_ONES[n // 100]} hundred" + (f" and {say(rest)}" if rest else "")
    rest = n % 1000
    return f"{say(n // 1000)} thousand" + (
        "" if not rest else f" and {say(rest)}" if rest < 100 else f" {say(rest)}")


def _render(doc: Doc, changes: Mapping[int, str]) -> str | None:
    """The text of ``doc`` with token ``i`` written as ``changes[i]`` ("" drops it); None when
    nothing changed."""
    if not changes:
        return None
    out = []
    for t in doc:
        text = changes.get(t.i, t.text)
        out.append(text + t.whitespace_ if text else t.whitespace_)
    new = re.sub(r"\s+([?.,!])", r"\1", re.sub(r"\s{2,}", " ", "".join(out))).strip()
    return new if new != doc.text.strip() else None


def _month_near(doc: Doc, t: Token) -> bool:
    return any(0 <= j < len(doc) and doc[j].lower_.rstrip(".") in (*MONTHS, *ABBREVIATED)
               for j in (t.i - 1, t.i + 1))


def digits_to_words(question: str) -> str | None:
    """A number in digits spelt out ("46 passengers": "forty-six passengers"); not a year, a
    day of a month or a chapter and verse."""
    doc = nlp.parse(question)
    skip = nlp.reference_tokens(doc)
    changes = {t.i: say(int(t.text.replace(",", ""))) for t in doc
               if _PLAIN_NUMBER.match(t.text) and t.i not in skip and not _YEARISH.match(t.text)
               and not _month_near(doc, t) and int(t.text.replace(",", "")) < 1_000_000
               and not _glued(doc, t)}
    return _render(doc, changes)


def _glued(doc: Doc, t: Token) -> bool:
    """A number written onto what follows it ("5km", "20%"): a unit's symbol, left as it is."""
    return not t.whitespace_ and t.i + 1 < len(doc) and (doc[t.i + 1].is_alpha
                                                         or doc[t.i + 1].text == "%")


def words_to_digits(question: str) -> str | None:
    """A number in words written in digits ("forty-six": "46"); "one" alone is left (a
    pronoun as often as a number)."""
    def digits(m: re.Match[str]) -> str:
        if m.group(0).lower() == "one":
            return m.group(0)
        value = next(iter(quantities.values(m.group(0))), None)
        return m.group(0) if value is None else f"{value:g}"

    new = _NUMBER_RUN.sub(digits, question)
    return new if new != question else None


def _number_before(doc: Doc, t: Token) -> Token | None:
    prev = doc[t.i - 1] if t.i > 0 else None
    return prev if prev is not None and (prev.like_num or prev.text.isdigit()) else None


def unit_abbreviations(question: str) -> str | None:
    """A unit after a number abbreviated ("5 kilometres": "5km", "19 years": "19 yrs"); the
    number in digits."""
    doc = nlp.parse(question)
    changes: dict[int, str] = {}
    for t in doc:
        unit = UNITS.get(t.lemma_.lower()) or UNITS.get(t.lower_.rstrip("s"))
        num = _number_before(doc, t)
        if unit is None or num is None:
            continue
        value = num.text if num.text[:1].isdigit() else words_to_digits(num.text) or num.text
        if unit in SYMBOLS:
            changes[num.i], changes[t.i] = f"{value}{unit}", ""
        else:
            plural = t.lower_.endswith("s") and unit not in ("in",)
            changes[num.i], changes[t.i] = value, unit + ("s" if plural else "")
    return _render(doc, changes)


def unit_words(question: str) -> str | None:
    """An abbreviated unit spelt out ("5km": "5 kilometres", "3 hrs": "3 hours", "5%": "5
    percent")."""
    def spelt(m: re.Match[str]) -> str:
        word = _SPELT[m.group(2).lower()]
        if m.group(1) in ("1", "one") or word == "percent":
            return f"{m.group(1)} {word}"
        return f"{m.group(1)} {'feet' if word == 'foot' else word + 's'}"

    units = "|".join(sorted((re.escape(a) for a in _SPELT), key=len, reverse=True))
    new = re.sub(rf"\b(\d[\d,.]*)\s?({units})\b", spelt, question)
    new = re.sub(r"(\d)\s?%", r"\1 percent", new)
    return new if new != question else None


def month_abbreviations(question: str) -> str | None:
    """A month's name abbreviated ("September": "Sep"), an abbreviation spelt out."""
    doc = nlp.parse(question)
    months = [(t, t.lower_.rstrip(".")) for t in doc if t.text[:1].isupper()]
    return _render(doc, {t.i: calendar.month_abbr[MONTHS[low]] if low in MONTHS else
                         calendar.month_name[ABBREVIATED[low]] for t, low in months
                         if low in MONTHS and len(low) > 3 or low in ABBREVIATED})


def month_numbers(question: str) -> str | None:
    """A month named with its year, or a whole date, in digits ("May 2022": "2022-05",
    "8 May 2022" and "May 8, 2022": "2022-05-08")."""
    names = "|".join([*MONTHS, *ABBREVIATED, "sept"])
    day = r"(\d{1,2})(?:st|nd|rd|th)?"

    def iso(year: str, month: str, date: str | None) -> str:
        number = MONTHS.get(month.lower().rstrip("."), ABBREVIATED.get(month.lower()[:3], 0))
        return f"{year}-{number:02d}" + (f"-{int(date):02d}" if date else "")

    new = re.sub(rf"\b{day}\s+({names})\.?,?\s+(\d{{4}})\b",
                 lambda m: iso(m.group(3), m.group(2), m.group(1)), question, flags=re.I)
    new = re.sub(rf"\b({names})\.?\s+(?:{day},?\s+)?(\d{{4}})\b",
                 lambda m: iso(m.group(3), m.group(1), m.group(2)), new, flags=re.I)
    return new if new != question else None


def _is_name(t: Token) -> bool:
    return t.is_alpha and t.text[:1].isupper() and t.text != "I" and (
        t.pos_ == "PROPN" or t.ent_type_ in nlp.NAME_LABELS) and t.tag_ not in nlp.WH_TAGS


def names_lower(question: str) -> str | None:
    """Proper names in lower case ("Lucia Ferrante": "lucia ferrante")."""
    doc = nlp.parse(question)
    return _render(doc, {t.i: t.lower_ for t in doc if _is_name(t)})


def possessives(question: str) -> str | None:
    """A possessive turned round ("Okafor's mother": "the mother of Okafor"), or an "of" a
    name into a possessive ("the sermon of Pastor Kessler": "Pastor Kessler's sermon")."""
    doc = nlp.parse(question)
    for t in doc:
        owner = t.head
        if t.tag_ == "POS" and owner.dep_ == "poss" and owner.head.i > t.i:
            owned = owner.head
            whole = doc[owner.left_edge.i:owner.i + 1].text
            thing = doc[t.i + 1:owned.i + 1].text
            changes = {i: "" for i in range(owner.left_edge.i, owned.i + 1)}
            changes[owner.left_edge.i] = f"the {thing} of {whole}"
            return _render(doc, changes)
    for t in doc:
        thing, obj = t.head, next((c for c in t.children if c.dep_ == "pobj"), None)
        if t.lower_ != "of" or obj is None or not _is_name(obj) or thing.pos_ != "NOUN":
            continue
        det = next((c for c in thing.children if c.dep_ == "det" and c.lower_ == "the"), None)
        if det is None or obj.right_edge.i != obj.i:
            continue
        owner = doc[obj.left_edge.i:obj.i + 1].text
        changes = {i: "" for i in range(det.i, obj.i + 1)}
        changes[det.i] = f"{owner}'s {doc[det.i + 1:thing.i + 1].text}"
        return _render(doc, changes)
    return None


def initials(question: str) -> str | None:
    """A person's first name as its initial ("Lucia Ferrante": "L. Ferrante"); a title is
    kept ("Pastor Daniel Kessler": "Pastor D. Kessler")."""
    doc = nlp.parse(question)
    changes = {}
    for ent in doc.ents:
        if ent.label_ != "PERSON":
            continue
        words = [t for t in ent if t.is_alpha and t.lower_ not in TITLES]
        if len(words) >= 2 and all(_is_name(t) for t in words[:2]) and len(words[0]) > 1:
            changes[words[0].i] = words[0].text[0] + "."
    return _render(doc, changes)


def keywords(question: str) -> str | None:
    """The keywords alone: no question word, auxiliary, article, pronoun or other function
    word ("How many passengers were on the ferry?": "passengers ferry")."""
    doc = nlp.parse(question)
    refs = nlp.reference_tokens(doc)  # a reference kept whole ("3:1-8")
    kept = [t for t in doc if t.i in refs or (
        (t.pos_ in nlp.CONTENT_POS or t.like_num) and t.tag_ not in nlp.WH_TAGS
        and (not t.is_stop or t.like_num or t.dep_ == "neg") and not t.is_punct)]
    new = "".join(t.text + (t.whitespace_ if j + 1 < len(kept) and kept[j + 1].i == t.i + 1
                            else " ") for j, t in enumerate(kept)).strip()
    return new if kept and new != question else None


def kind_of(question: str) -> str | None:
    """A "what kind of" question ("Which song did she sing?": "What kind of song did she
    sing?", "What did he sell?": "What kind of thing did he sell?")."""
    doc = nlp.parse(question)
    words = [t for t in doc if not t.is_punct]
    if len(words) < 2 or words[0].lower_ not in ("what", "which"):
        return None
    nxt = words[1]
    if nxt.pos_ in ("NOUN", "ADJ", "PROPN") and nxt.lower_ != "kind":
        return _render(doc, {words[0].i: "What kind of"})
    if nxt.lemma_ == "do":
        return _render(doc, {words[0].i: "What kind of thing"})
    return None


def _lower_first(doc: Doc) -> str:
    first = doc[0]
    keep = _is_name(first) or first.text.isupper()
    return (first.text if keep else first.text[:1].lower() + first.text[1:]) \
        + first.whitespace_ + doc[1:].text


def filler_before(question: str) -> str | None:
    """A filler before the question ("Quick question: how many ...?")."""
    return "Quick question: " + _lower_first(nlp.parse(question))


def filler_after(question: str) -> str | None:
    """A filler after the question ("... ? Thanks in advance!")."""
    text = question.rstrip()
    return text + (" Thanks in advance!" if text[-1:] in "?.!" else ", thanks in advance!")


# --- rewrites that change what is asked ------------------------------------------------------

_SWAPS = {"from": "to", "to": "from", "before": "after", "after": "before",
          "for": "against", "against": "for"}


def _swap(question: str, words: tuple[str, str]) -> str | None:
    doc = nlp.parse(question)
    return _render(doc, {t.i: _cased(t, _SWAPS[t.lower_]) for t in doc if t.lower_ in words
                         and t.pos_ in ("ADP", "SCONJ") and t.tag_ != "TO"})


def _cased(t: Token, word: str) -> str:
    return word.capitalize() if t.text[:1].isupper() else word


def from_to(question: str) -> str | None:
    """"from" and "to" exchanged (prepositions, not the "to" of an infinitive)."""
    return _swap(question, ("from", "to"))


def before_after(question: str) -> str | None:
    return _swap(question, ("before", "after"))


def for_against(question: str) -> str | None:
    return _swap(question, ("for", "against"))


def negation(question: str) -> str | None:
    """The main verb negated ("What did she sell?": "What did she not sell?", "Who stopped?":
    "Who did not stop?"), or a negation taken away."""
    doc = nlp.parse(question)
    if negs := [t for t in doc if t.dep_ == "neg"]:
        neg = negs[0]  # "can't": "can", "didn't": "did"
        aux = doc[neg.i - 1] if neg.i and not doc[neg.i - 1].whitespace_ else None
        if aux is not None and neg.lower_ == "n't":
            full = {"ca": "can", "wo": "will", "sha": "shall"}.get(aux.lower_, aux.text)
            return _render(doc, {aux.i: full, neg.i: ""})
        return _render(doc, {neg.i: ""})
    root = next((t for t in doc if t.dep_ == "ROOT"), None)
    if root is None:
        return None
    aux = [c for c in root.children if c.dep_ in ("aux", "auxpass") and c.i < root.i]
    later = next((t for t in doc[root.i + 1:] if t.pos_ == "VERB"), None)
    verb = root if aux else later if root.lemma_ == "do" else None
    if verb is not None:  # "did she sell": "did she not sell"
        return _render(doc, {verb.i: "not " + verb.text})
    if root.pos_ == "AUX":  # "Is a weight always a sin?": after a short subject
        subject = next((c for c in root.children if c.dep_ == "nsubj" and c.i > root.i), None)
        end = root if subject is None or subject.right_edge.i - subject.left_edge.i > 2 \
            else subject.right_edge
        return _render(doc, {end.i: end.text + " not"})
    if root.lemma_ == "do":  # a verb the tagger missed follows: "did not"
        return _render(doc, {root.i: root.text + " not"})
    if root.pos_ == "VERB" and root.tag_ in ("VBD", "VBZ", "VBP"):
        do = {"VBD": "did", "VBZ": "does", "VBP": "do"}[root.tag_]
        return _render(doc, {root.i: f"{do} not {root.lemma_}"})
    return None


def swapped_roles(question: str) -> str | None:
    """The doer and the done-to of the main verb exchanged ("Why did Adaeze leave Onitsha?":
    "Why did Onitsha leave Adaeze?"); neither may be a question word or a pronoun."""
    doc = nlp.parse(question)
    for verb in doc:
        subj = next((c for c in verb.children if c.dep_ == "nsubj"), None)
        obj = next((c for c in verb.children if c.dep_ in ("dobj", "dative")), None)
        if subj is None or obj is None:
            continue
        spans = [doc[c.left_edge.i:c.right_edge.i + 1] for c in (subj, obj)]
        if any(t.tag_ in nlp.WH_TAGS or t.pos_ == "PRON" for s in spans for t in s):
            continue
        first, second = sorted(spans, key=lambda s: s.start)
        changes = {i: "" for s in spans for i in range(s.start, s.end)}
        changes[first.start], changes[second.start] = second.text, first.text
        return _render(doc, changes)
    return None


def another_number(question: str) -> str | None:
    """One number changed by one ("46": "47", "forty-six": "forty-seven", a year the next)."""
    doc = nlp.parse(question)
    for t in doc:
        text = t.text.replace(",", "")
        if text.isdigit():
            return _render(doc, {t.i: str(int(text) + 1)})
        if t.lower_ in quantities.NUMBER_WORDS and t.lower_ in _ONES[2:] + _TENS[2:]:
            value = next(iter(quantities.values(t.lower_)))
            return _render(doc, {t.i: _cased(t, say(int(value) + 1))})
    return None


@dataclass(frozen=True)
class Rewrite:
    name: str
    rule: Rule
    keeps: bool  # True: the same question; False: another question

    def __call__(self, question: str) -> str | None:
        new = self.rule(question)
        return new if new and new.strip() != question.strip() else None


KEEPING = tuple(Rewrite(f.__name__, f, True) for f in (
    digits_to_words, words_to_digits, unit_abbreviations, unit_words, month_abbreviations,
    month_numbers, names_lower, possessives, initials, keywords, kind_of, filler_before,
    filler_after))
CHANGING = tuple(Rewrite(f.__name__, f, False) for f in (
    from_to, before_after, for_against, negation, swapped_roles, another_number))
ALL = KEEPING + CHANGING
