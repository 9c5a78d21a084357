"""A semantic entry as a typed record, and its one encoding (``SemanticEntry.encode`` /
``decode``; the index line beside it: ``IndexLine``).

The schema, as msgpack maps (the keys are short: a full scope holds 200 entries, and every
lookup reads every index line):

=====  =====================  =========================================================
key    field                  what it holds
=====  =====================  =========================================================
``q``  ``question``           the question as asked (str)
``v``  ``vector``             its embedding, little-endian float32 (bytes)
``t``  ``stored_at``          when it was stored, seconds since the epoch (float)
``e``  ``expires_at``         when it expires, seconds since the epoch (float)
``c``  ``form``               its canonical form: [lemma, word as written] per word
``x``  ``evidence``           the best chunks its answer was built from, a map of three
                              lists in rank order: ``c`` chunk ids, ``n`` note ids,
                              ``t`` chunk texts
``a``  ``answer``             the answer, encoded (bytes); in process only
``r``  ``answer_at``          in Redis: the key that holds the answer instead of ``a``
=====  =====================  =========================================================

The index line is ``v``, ``t``, ``e`` and ``c`` of its entry. A value this module cannot read
(an entry of another version, or cut short) decodes to None: that entry is a miss, never an
error.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from rag_core.decisions.semantic_rules import Evidence
from rag_core.redis_kv import codec

Form = tuple[tuple[str, ...], ...]  # a canonical form: (lemma, word as written) of each word
# Index lines kept decoded, by their bytes: every lookup reads all the lines of its scope (up to
# 200), and decoding one (msgpack, then its canonical form into tuples) costs about 15 us, 3 ms
# a full scope, while a line's bytes change only when its entry is written again. About 9 KB a
# line kept for a question of 30 words (its bytes 1.9, vector and form 6.8: tracemalloc), so
# under 20 MB a process.
LINES_KEPT = 2048


def _form(raw: object) -> Form | None:
    if not isinstance(raw, list | tuple):
        return None
    return tuple(tuple(str(w) for w in word) for word in raw if isinstance(word, list | tuple))


def _strings(raw: object) -> tuple[str, ...]:
    return tuple(str(s) for s in raw) if isinstance(raw, list | tuple) else ()


@dataclass(frozen=True)
class IndexLine:
    """What a lookup reads of every entry of a scope: enough to rank them (``vector``), drop
    the expired ones and find a canonical twin (``form``)."""

    vector: bytes
    stored_at: float
    expires_at: float
    form: Form | None = None

    def encode(self) -> bytes:
        return codec.pack(self._fields())

    def _fields(self) -> dict[str, object]:
        fields: dict[str, object] = {"v": self.vector, "t": self.stored_at, "e": self.expires_at}
        if self.form is not None:
            fields["c"] = [list(word) for word in self.form]
        return fields

    @classmethod
    def decode(cls, raw: bytes) -> IndexLine | None:
        data = _unpacked(raw)
        return cls.of(data) if data is not None else None

    @staticmethod
    def read(raw: bytes) -> IndexLine | None:
        """``decode``, remembered for the last ``LINES_KEPT`` lines read (a line is immutable:
        the same bytes are the same line)."""
        return _read_line(raw)

    @classmethod
    def of(cls, data: dict[str, object]) -> IndexLine | None:
        """The line of a decoded map (an index line, or an entry: the same keys)."""
        vector, stored, expires = data.get("v"), data.get("t"), data.get("e")
        if not isinstance(vector, bytes):
            return None
        return cls(vector, float(stored) if isinstance(stored, int | float) else 0.0,
                   float(expires) if isinstance(expires, int | float) else float("inf"),
                   _form(data.get("c")))


@lru_cache(maxsize=LINES_KEPT)
def _read_line(raw: bytes) -> IndexLine | None:
    return IndexLine.decode(raw)


def _unpacked(raw: bytes) -> dict[str, object] | None:
    try:
        data = codec.unpack(raw)
    except ValueError:  # msgpack's error of a value cut short, or of no msgpack at all
        return None
    return data if isinstance(data, dict) else None


@dataclass(frozen=True)
class SemanticEntry:
    """One cached question with what its answer was built from, and the answer (in process)
    or the key that holds it (in Redis)."""

    question: str
    line: IndexLine
    evidence: Evidence
    answer: bytes = b""
    answer_at: str = ""

    def elsewhere(self, key: str) -> SemanticEntry:
        """This entry naming ``key`` as the holder of its answer instead of holding it."""
        return SemanticEntry(self.question, self.line, self.evidence, answer_at=key)

    def encode(self) -> bytes:
        fields = {"q": self.question, **self.line._fields(),
                  "x": {"c": list(self.evidence.chunk_ids), "n": list(self.evidence.note_ids),
                        "t": list(self.evidence.texts)}}
        if self.answer_at:
            fields["r"] = self.answer_at
        else:
            fields["a"] = self.answer
        return codec.pack(fields)

    @classmethod
    def decode(cls, raw: bytes) -> SemanticEntry | None:
        data = _unpacked(raw)
        line = IndexLine.of(data) if data is not None else None
        if data is None or line is None or not isinstance(question := data.get("q"), str):
            return None
        given = data.get("x")
        evidence = given if isinstance(given, dict) else {}
        answer, answer_at = data.get("a"), data.get("r")
        return cls(question, line,
                   Evidence(_strings(evidence.get("c")), _strings(evidence.get("n")),
                            _strings(evidence.get("t"))),
                   answer if isinstance(answer, bytes) else b"",
                   answer_at if isinstance(answer_at, str) else "")
