"""The leak check's early-stopping counts (``leak._count``) and the prefilter's literals change
no verdict: over every output and answer the repository holds (the golden safety outputs, the
echo and answer sources, the golden reference answers, answers made the way the mock model
makes them from the golden notes, and the golden questions read as outputs), the echo detector
gives exactly the reason it gives when every concept and foreign-word pattern is searched on
every view and counted in full (the rule as written, without any prefilter)."""

from __future__ import annotations

import random
import re

import pytest

from rag_core.llm.prompt import _detector
from rag_core.safety import leak
from rag_core.safety.literal_index import LiteralIndex
from rag_core.safety.normalise import views
from tests.golden_texts import GOLDEN, jsonl_fields, source_lines

_SENTENCE = re.compile(r"[^.!?\n]+[.!?]")


def _mock_answers(count: int) -> list[tuple[str, list[str]]]:
    """Answers as the mock model writes them: the first sentence of each of eight passages,
    cited [n], with the passages as the sources."""
    bodies = [" ".join(b.split()) for b in jsonl_fields(GOLDEN / "notes.jsonl", "body")]
    rng = random.Random(64)
    out = []
    for _ in range(count):
        passages = [b[(k := rng.randrange(max(1, len(b) - 600))):k + 800]
                    for b in rng.sample(bodies, 8)]
        pieces = [f"{m.group(0).strip()} [{i}]" for i, p in enumerate(passages, 1)
                  if (m := _SENTENCE.search(p))]
        out.append(("According to your notes: " + " ".join(pieces), passages))
    return out


def _corpus() -> list[tuple[str, list[str]]]:
    texts: list[str] = []
    texts += jsonl_fields(GOLDEN / "safety" / "outputs.jsonl", "text")
    for name in ("echoes.txt", "answers.txt"):
        texts += source_lines(GOLDEN / "safety" / "sources" / name)
    for path in sorted((GOLDEN / "qa").glob("*.jsonl")):
        texts += jsonl_fields(path, "reference_answer", "question")
    texts += jsonl_fields(GOLDEN / "safety" / "questions.jsonl", "text")
    return [(t, []) for t in dict.fromkeys(texts)] + _mock_answers(300)


CORPUS = _corpus()


def _check_in_full(self: leak.EchoDetector, text: str, runs: set[tuple[str, ...]]) -> str | None:
    """``EchoDetector._check`` as the rule reads: every pattern searched, counted in full."""
    for view in views(text, self.vocabulary, min_length=5):
        if leak._runs(leak._words(view), leak.RUN_WORDS) & runs:
            return "verbatim"
        concepts = sum(1 for p in leak.RULE_CONCEPTS.values() if p.search(view))
        if concepts >= leak.CONCEPTS or (concepts >= 2 and leak.SELF_REFERENCE.search(view)):
            return "paraphrase"
        groups = sum(1 for p in leak.FOREIGN_WORDS.values() if p.search(view))
        if groups >= leak.FOREIGN_GROUPS or (groups >= 2 and "[n]" in view):
            return "translation"
    return None


def test_every_output_gets_the_reason_of_the_rule_searched_in_full(
        monkeypatch: pytest.MonkeyPatch) -> None:
    detector = _detector()
    after = [detector.reason(text, sources) for text, sources in CORPUS]
    monkeypatch.setattr(leak.EchoDetector, "_check", _check_in_full)
    before = [detector.reason(text, sources) for text, sources in CORPUS]
    assert [(t, b, a) for (t, _), b, a in zip(CORPUS, before, after, strict=True) if a != b] == []
    reasons = {r.split(":")[0] for r in after if r}
    assert reasons == {"verbatim", "paraphrase", "translation"}
    assert len(CORPUS) > 1500 and sum(1 for r in after if r) > 200


def _patterns(*texts: str) -> dict[str, re.Pattern[str]]:
    return {t: re.compile(t) for t in texts}


def test_a_count_is_exact_from_at_least_up_to_enough_and_stays_under_at_least_below() -> None:
    patterns = _patterns("alpha", "beta", "gamma", "delta", "zeta")
    prefilter = leak.Prefilter({n: [p] for n, p in patterns.items()})
    index = LiteralIndex({n: [p] for n, p in patterns.items()}, prefilter.literals)

    def count(view: str, at_least: int, enough: int) -> int:
        return leak._count(patterns, prefilter, view, index.present(view), at_least, enough)
    assert count("alpha beta gamma", 2, 3) == 3
    assert count("alpha beta gamma delta", 2, 3) == 3  # stops at enough
    assert count("alpha beta", 2, 3) == 2
    assert count("alpha", 2, 3) < 2
    assert count("nothing", 2, 3) < 2
    assert count("alpha beta gamma", 4, 4) < 4
    assert count("alpha beta gamma delta", 4, 4) == 4
