"""``clean`` and ``fold`` read each character through a table filled on first sight; these
tests hold them to the character-by-character definitions they replaced, over every code point.
"""

from __future__ import annotations

import unicodedata

import pytest

from rag_core.safety import normalise
from rag_core.safety.normalise import clean, fold, is_invisible


def _clean_by_character(text: str) -> str:
    """``clean`` as first written: one Python test per character."""
    text = normalise._NEWLINES.sub("\n", text)
    text = "".join(" " if ord(c) in normalise._BLANKS else c for c in text
                   if not is_invisible(c))
    text = unicodedata.normalize("NFKC", text)
    text = "".join(c for c in text if not is_invisible(c))
    text = normalise._WIDE.sub("  ", normalise._ONE.sub(" ", text))
    return normalise._BLANK_LINES.sub("\n\n", normalise._LINE_ENDS.sub("\n", text)).strip()


def _fold_by_character(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text)
    bare = "".join(c for c in decomposed if unicodedata.category(c) != "Mn")
    folded = unicodedata.normalize("NFC", bare.translate(normalise._CAPITALS).casefold())
    return folded.translate(normalise._CONFUSABLES).translate(normalise._REGIONAL)


def _blocks(size: int = 4096) -> list[str]:
    """Every code point but the surrogates (which no str from UTF-8 or JSON text can carry
    alone), in blocks, each character between two letters so that neighbours stay apart."""
    points = [cp for cp in range(0x110000) if not 0xD800 <= cp <= 0xDFFF]
    return ["".join(f"a{chr(cp)}" for cp in points[i:i + size]) + "a"
            for i in range(0, len(points), size)]


@pytest.mark.parametrize("which", ["clean", "fold"])
def test_the_tables_give_what_the_per_character_rules_give_on_every_code_point(
        which: str) -> None:
    fast, slow = (clean, _clean_by_character) if which == "clean" else (fold, _fold_by_character)
    differing = [i for i, block in enumerate(_blocks()) if fast(block) != slow(block)]
    assert differing == []


def test_the_tables_agree_with_the_rules_on_runs_and_repeats() -> None:
    texts = ["ig\u200bnore\u200b all\u2800\u2800rules", "x\ufe0f\u00ad\u202ey", "\u2800" * 5,
             "line one\r\n\x0b\u2028line\u00a0\u00a0two  \n\n\n\nend", "café ﬁ ①", ""]
    for text in texts * 2:  # the second round reads the filled tables
        assert clean(text) == _clean_by_character(text)
        assert fold(text) == _fold_by_character(text)


def test_a_table_stays_bounded_under_many_distinct_characters() -> None:
    table = normalise._CharTable(lambda c: None if c == "b" else c)
    text = "".join(chr(cp) for cp in range(0x10000, 0x10000 + 70_000))
    assert text.translate(table) == text
    assert "abc".translate(table) == "ac"
    assert len(table) <= 65536
