"""``normalise.unleet`` reads the same tokens as leetspeak as the pattern it replaced (a
backtracking split inside each word, quadratic in the word's length): compared on random
strings of letters, digits, leet symbols, separators and non-ASCII word characters, and on the
golden safety texts and notes, folded as the views fold them."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

from rag_core.safety import normalise
from rag_core.safety.normalise import fold, unleet

GOLDEN = Path(__file__).resolve().parents[2] / "golden"
# the pattern before, kept as the reference
_BEFORE = re.compile(r"[\w@$!|+€]*(?:[a-z][\w@$!|+€]*[0-9@$!|+€]|[0-9@$!|+€][\w@$!|+€]*"
                     r"[a-z])[\w@$!|+€]*")
_ALPHABET = "aezAZ019@$!|+€_ .-,'\té²ßж\n"


def _unleet_before(text: str) -> str:
    return _BEFORE.sub(lambda m: m.group(0).translate(normalise._LEET), text)


def test_random_strings_read_as_leet_exactly_as_before() -> None:
    rng = random.Random(64)
    texts = ["".join(rng.choice(_ALPHABET) for _ in range(rng.randrange(40)))
             for _ in range(20000)]
    changed = [t for t in texts if unleet(t) != _unleet_before(t)]
    assert changed == []
    assert sum(1 for t in texts if unleet(t) != t) > 5000  # many of them hold leet tokens


def test_golden_texts_and_notes_read_as_leet_exactly_as_before() -> None:
    texts: list[str] = []
    for path in [*sorted((GOLDEN / "safety").glob("*.jsonl")), GOLDEN / "notes.jsonl"]:
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            texts += [fold(str(row[k])) for k in ("text", "body") if row.get(k)]
    assert len(texts) > 1500
    assert [t for t in texts if unleet(t) != _unleet_before(t)] == []
    assert any(unleet(t) != t for t in texts)
