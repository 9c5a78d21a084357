"""The batched lemma memo: the same lemmas as one parse per text, bounded, least recent out."""

from __future__ import annotations

from pathlib import Path

from rag_core.decisions import lemma_sets, nlp
from rag_core.decisions.sentences import split_sentences

GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "notes"


def _golden_sentences() -> list[str]:
    bodies = [p.read_text() for p in sorted(GOLDEN.rglob("*.md"))]
    return split_sentences(bodies)


def test_batched_lemmas_equal_one_parse_per_text_on_every_golden_sentence() -> None:
    sentences = _golden_sentences()
    assert len(sentences) > 1000
    memo = lemma_sets._LemmaMemo(len(sentences))
    batched = memo.many(sentences)
    one_by_one = [lemma_sets.lemma_set(nlp.nlp()(s, disable=lemma_sets.LEMMA_SKIPS))
                  for s in sentences]
    assert batched == one_by_one


def test_the_memo_parses_only_new_texts_and_drops_the_least_recent() -> None:
    parsed: list[str] = []
    real = nlp.nlp()

    class Counting:
        def pipe(self, texts: list[str], **kwargs: object) -> object:
            parsed.extend(texts)
            return real.pipe(texts, **kwargs)

    memo = lemma_sets._LemmaMemo(2)
    original = nlp._nlp
    nlp._nlp = Counting()
    try:
        first = memo.many(["Ruth gleaned barley.", "Boaz spoke kindly.", "Ruth gleaned barley."])
        assert parsed == ["Ruth gleaned barley.", "Boaz spoke kindly."]  # a repeat parsed once
        assert "glean" in first[0] and first[0] == first[2]
        memo.many(["Ruth gleaned barley."])  # a hit: now the most recent
        assert parsed == ["Ruth gleaned barley.", "Boaz spoke kindly."]
        memo.many(["Naomi went home."])  # over the bound: "Boaz" (least recent) goes
        memo.many(["Ruth gleaned barley.", "Boaz spoke kindly."])
        assert parsed[-1] == "Boaz spoke kindly." and parsed.count("Ruth gleaned barley.") == 1
    finally:
        nlp._nlp = original


def test_lemmas_of_is_the_union_of_each() -> None:
    texts = ["The widows wept at the well.", "She was gathering sheaves."]
    each = lemma_sets.lemmas_each(texts)
    assert lemma_sets.lemmas_of(texts) == each[0] | each[1]
    assert {"widow", "weep", "gather", "sheaf"} <= lemma_sets.lemmas_of(texts)
