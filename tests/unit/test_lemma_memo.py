"""Loose's lemma memo: the same lemmas as one parse per text, each text parsed once."""

from __future__ import annotations

from pathlib import Path

from rag_core.decisions import semantic_rules as sr
from rag_core.text import nlp
from rag_core.text.sentences import split_sentences

GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "notes"


def _lemmas(text: str) -> frozenset[str]:
    doc = nlp.nlp()(text, disable=["parser", "ner"])
    return frozenset({w.lemma_.lower() for w in doc if w.is_alpha}
                     | {w.lower_ for w in doc if w.is_alpha})


def test_batched_lemmas_equal_one_parse_per_text_on_golden_sentences() -> None:
    bodies = [p.read_text() for p in sorted(GOLDEN.rglob("*.md"))]
    sentences = list(dict.fromkeys(s for b in bodies for s in split_sentences(b)))[:1500]
    assert len(sentences) > 1000
    sr._LEMMAS.clear()
    assert sr.lemmas_each(sentences) == [_lemmas(s) for s in sentences]


def test_the_memo_parses_only_new_texts() -> None:
    parsed: list[str] = []
    real = nlp.nlp()

    class Counting:
        vocab = real.vocab  # what nlp() checks the growth of

        def pipe(self, texts: list[str], **kwargs: object) -> object:
            parsed.extend(texts)
            return real.pipe(texts, **kwargs)

    sr._LEMMAS.clear()
    original = nlp._nlp
    nlp._nlp = Counting()
    try:
        first = sr.lemmas_each(["Ruth gleaned barley.", "Boaz spoke.", "Ruth gleaned barley."])
        assert parsed == ["Ruth gleaned barley.", "Boaz spoke."]  # a repeat parsed once
        assert "glean" in first[0] and first[0] == first[2]
        sr.lemmas_each(["Ruth gleaned barley.", "123"])
        assert parsed[-1] == "123" and sr.lemmas_each(["123"]) == [frozenset()]
    finally:
        nlp._nlp = original


def test_lemmas_of_is_the_union_of_each() -> None:
    texts = ["The widows wept at the well.", "She was gathering sheaves."]
    each = sr.lemmas_each(texts)
    assert sr.lemmas_of(texts) == each[0] | each[1]
    assert {"widow", "weep", "gather", "sheaf"} <= sr.lemmas_of(texts)
