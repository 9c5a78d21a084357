"""Who does what: the ``roles`` rule of the semantic-cache decision.

Two questions about one passage often name the same people with the roles exchanged: "What did
Mateo say to Castellanos?" and "What did Castellanos say back to Mateo?" share every word, their
best chunk and their best sentence, and still have different answers. spaCy's dependency parse
says who is the subject; ``rag_core.decisions.nlp.facts`` keeps, for each question, the noun
phrases it
names (``mentions``), those that are a subject anywhere (``subjects``), those that do something
in its main clause (``doers``) and whether anyone, named or not, does something there
(``acting``).

A doer of one question is *demoted* in the other when the other names it but never as a
subject. The rule refuses when a doer is demoted and the other question has someone else doing
something: the parties are the same, the roles are not. A demoted doer alone is no refusal
("What did Ingrid ask the ferryman?" against "What was Ingrid's question to the ferryman?",
where nobody acts), the source of an "according to" is no party, and a question with "he",
"she" or "they" as a subject demotes no one (the pronoun may be that doer; no coreference is
resolved). The strict mode's variant, ``exchanged``, refuses only when that someone else is
named by the first question too: the parties of both are the same, their roles exchanged. A
doer that one question names in a phrase the parser read wrongly ("how many acres ... did X
lose" taken as a subject) then refuses no paraphrase.
"""

from __future__ import annotations

from rag_core.decisions import nlp
from rag_core.decisions.semantic_evidence import Check


def same_party(x: str, y: str) -> bool:
    """Two noun phrases name the same party when one's words include the other's ("okafor",
    "pastor okafor"); "fellow servant" and "unforgiving servant" do not."""
    wx, wy = set(x.split()), set(y.split())
    return wx <= wy or wy <= wx


def demoted(a: nlp.Facts, b: nlp.Facts) -> list[str]:
    """The doers of ``a`` that ``b`` names, but not as a subject (none when a subject of ``b``
    is "he", "she" or "they": it may be the doer, "... told Lindqvist he had ignored ...")."""
    if b.referring:
        return []
    return sorted(x for x in a.doers if any(same_party(x, m) for m in b.mentions)
                  and not any(same_party(x, s) for s in b.subjects))


def _named_doer(a: nlp.Facts, b: nlp.Facts) -> bool:
    """A doer of ``a`` other than those ``b`` has as doers is named by ``b``."""
    return any(any(same_party(x, m) for m in b.mentions) and
               not any(same_party(x, d) for d in b.doers) for x in a.doers)


def role_check(a: nlp.Facts, b: nlp.Facts, mode: str = "acting") -> Check:
    """Refuse when a doer of one question is named in the other in another role while someone
    else does something there (``acting``, loose's rule), while a doer of that other question
    named by the first does (``exchanged``, strict's); the variants measured beside them:
    ``any`` demoted doer, or ``both`` sides demoting one of the other's doers."""
    only_a, only_b = demoted(a, b), demoted(b, a)
    if mode == "any":
        ok = not (only_a or only_b)
    elif mode == "both":
        ok = not (only_a and only_b)
    elif mode == "exchanged":  # the other question's doer is named by this one
        ok = not ((only_a and _named_doer(b, a)) or (only_b and _named_doer(a, b)))
    elif mode == "acting":
        ok = not ((only_a and b.acting) or (only_b and a.acting))
    else:
        raise ValueError(f"unknown roles mode {mode!r}; expected acting, exchanged, any or "
                         "both")
    return Check("roles", ok, f"doers named in another role on the other side: {only_a} vs "
                              f"{only_b}" if only_a or only_b else "no doer in another role")
