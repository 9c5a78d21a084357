"""The semantic cache: reuse an answer for a paraphrase of a question already answered.

Entries live per (user, notes version): a paraphrase can only ever reuse an answer built from
the same user's current notes. A hit needs a cosine similarity of the query embeddings at or
above ``Settings.semantic_cache_threshold`` AND the false-hit guard: questions that differ in a
number, a name, a month, a quoted phrase or a negation are different questions, however close
their embeddings are ("... in 2023?" against "... in 2024?").
"""

from __future__ import annotations

import hashlib
import math
import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import redis

from rag_core.cache import codec
from rag_core.cache.keys import layer_prefix, normalize_query, user_prefix
from rag_core.cache.redis_cache import warn
from rag_core.config import Settings

LAYER = "semantic"
MAX_ENTRIES_PER_SCOPE = 200

_NUMBER = re.compile(r"\d+")
_WORD = re.compile(r"[A-Za-z][A-Za-z'\-]*")
_QUOTED = re.compile(r"[\"“”']([^\"“”']{2,})[\"“”']")
_NEGATIONS = {"not", "never", "no", "without", "nor", "neither", "none", "nothing", "cannot"}
_MONTHS = {"january", "february", "march", "april", "may", "june", "july", "august",
           "september", "october", "november", "december", "spring", "summer", "autumn",
           "fall", "winter", "easter", "christmas", "advent", "lent", "pentecost"}
_NUMBER_WORDS = {"one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
                 "eleven", "twelve", "twenty", "thirty", "forty", "fifty", "hundred", "thousand",
                 "twice", "thrice", "double", "triple", "half", "dozen", "once"}
# Words that turn a question into another one when swapped for a member of the same group.
_OPPOSITES = [
    {"start", "starts", "begin", "begins", "end", "ends", "finish", "stop", "stops"},
    {"came", "come", "comes", "arrive", "arrived", "left", "leave", "leaves", "depart"},
    {"much", "little", "more", "less", "most", "least", "many", "few"},
    {"born", "died", "diagnosed", "married", "baptized", "baptised", "buried"},
    {"passed", "stopped", "helped", "ignored"},
    {"give", "gave", "receive", "received", "take", "took"},
    {"open", "opened", "close", "closed"},
    {"read", "wrote", "write", "said", "do", "did"},
    {"father", "mother", "brother", "sister", "son", "daughter", "husband", "wife",
     "grandfather", "grandmother"},
    {"priest", "levite", "samaritan", "king", "servant", "fellow"},
    {"time", "room", "place", "day", "year"},
]
_WH = ("how many", "how much", "how long", "how old", "who", "what", "when", "where", "why",
       "which", "how", "did", "does", "is", "was")
_ORDINALS = {"first", "second", "third", "fourth", "fifth", "last", "previous", "next",
             "older", "younger", "before", "after", "earlier", "later"}
# Capitalised words that are not names of a particular person, book or place.
_COMMON = {"i", "what", "who", "when", "where", "why", "how", "which", "did", "does", "do",
           "is", "are", "was", "were", "can", "could", "should", "would", "tell", "give",
           "summarise", "summarize", "explain", "describe", "list", "remind", "my", "the", "a",
           "an", "in", "on", "about", "pastor", "rev", "reverend", "dr", "elder", "god", "jesus",
           "lord", "christ", "bible", "scripture", "sermon", "sermons", "notes", "please", "and",
           "according", "from", "any", "whats", "what's"}


def _negations(text: str) -> int:
    words = [w.lower() for w in _WORD.findall(text)]
    return sum(w in _NEGATIONS or w.endswith("n't") for w in words)


def _names(text: str) -> set[str]:
    out = set()
    for word in _WORD.findall(text):
        base = word.lower().removesuffix("'s")
        if word[0].isupper() and base not in _COMMON:
            out.add(base)
    return out


def _marked(text: str, vocabulary: set[str]) -> set[str]:
    return {w.lower() for w in _WORD.findall(text) if w.lower() in vocabulary}


def _wh(text: str) -> str:
    lowered = " ".join(w.lower() for w in _WORD.findall(text))
    return next((w for w in _WH if lowered.startswith(w + " ")), "")


def guard_ok(query_a: str, query_b: str) -> bool:
    """False when the two questions differ in what makes them different questions."""
    if set(_NUMBER.findall(query_a)) != set(_NUMBER.findall(query_b)):
        return False
    if _negations(query_a) != _negations(query_b):
        return False
    if _names(query_a) != _names(query_b):
        return False
    if _marked(query_a, _MONTHS) != _marked(query_b, _MONTHS):
        return False
    if _marked(query_a, _ORDINALS) != _marked(query_b, _ORDINALS):
        return False
    if _marked(query_a, _NUMBER_WORDS) != _marked(query_b, _NUMBER_WORDS):
        return False
    for group in _OPPOSITES:
        in_a, in_b = _marked(query_a, group), _marked(query_b, group)
        if in_a and in_b and in_a != in_b:
            return False
    if _wh(query_a) != _wh(query_b):
        return False
    quoted_a = {q.lower() for q in _QUOTED.findall(query_a)}
    return quoted_a == {q.lower() for q in _QUOTED.findall(query_b)}


@dataclass(frozen=True)
class SemanticHit:
    answer: bytes
    similarity: float
    matched_query: str

    def __getitem__(self, index: int) -> Any:  # (answer, similarity, query) like a tuple
        return (self.answer, self.similarity, self.matched_query)[index]


class SemanticCache:
    """Per user and notes version; Redis when given a client, else in process."""

    def __init__(self, client: redis.Redis | None, settings: Settings,
                 clock: Callable[[], float] = time.time) -> None:
        self.client = client
        self.settings = settings
        self.clock = clock  # each entry expires on its own, at its TTL after it was stored
        self.threshold = settings.semantic_cache_threshold
        self._local: dict[str, dict[str, dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @staticmethod
    def scope(user_id: str, notes_version: int) -> str:
        return f"{user_prefix(LAYER, user_id)}v{notes_version}"

    def lookup(self, user_id: str, notes_version: int, query_text: str,
               embedding: np.ndarray) -> SemanticHit | None:
        now = self.clock()
        entries = [e for e in self._entries(self.scope(user_id, notes_version))
                   if e.get("e", math.inf) > now]
        best: SemanticHit | None = None
        if entries:
            matrix = np.stack([codec.unpack_vector(e["v"], len(embedding)) for e in entries])
            sims = matrix @ np.asarray(embedding, dtype=np.float32)
            for i in np.argsort(-sims):
                if sims[i] < self.threshold:
                    break
                if guard_ok(query_text, entries[i]["q"]):
                    best = SemanticHit(entries[i]["a"], float(sims[i]), entries[i]["q"])
                    break
        if best is None:
            self.misses += 1
        else:
            self.hits += 1
        return best

    def store(self, user_id: str, notes_version: int, query_text: str, embedding: np.ndarray,
              answer: bytes, ttl_s: int) -> None:
        scope = self.scope(user_id, notes_version)
        field = hashlib.sha256(normalize_query(query_text).encode()).hexdigest()[:16]
        now = self.clock()
        entry = {"q": query_text, "v": codec.pack_vector(embedding), "a": answer,
                 "t": now, "e": now + ttl_s}
        if self.client is None:
            with self._lock:
                bucket = self._local.setdefault(scope, {})
                bucket[field] = entry
                while len(bucket) > MAX_ENTRIES_PER_SCOPE:
                    bucket.pop(min(bucket, key=lambda k: bucket[k]["t"]))
            return
        try:
            pipe = self.client.pipeline()
            pipe.hset(scope, field, codec.pack(entry))
            pipe.expire(scope, max(1, int(ttl_s)))
            pipe.hlen(scope)
            size = pipe.execute()[-1]
            if int(size) > MAX_ENTRIES_PER_SCOPE:
                self._trim(scope)
        except redis.RedisError as exc:
            warn(LAYER, exc)

    def clear(self, prefix: str = "") -> int:
        if self.client is None:
            with self._lock:
                doomed = [k for k in self._local if k.startswith(prefix or layer_prefix(LAYER))]
                for key in doomed:
                    del self._local[key]
                return len(doomed)
        removed = 0
        try:
            pattern = (prefix or layer_prefix(LAYER)) + "*"
            for key in self.client.scan_iter(match=pattern, count=500):
                removed += int(self.client.unlink(key))
        except redis.RedisError as exc:
            warn(LAYER, exc)
        return removed

    def _entries(self, scope: str) -> list[dict[str, Any]]:
        if self.client is None:
            with self._lock:
                return list(self._local.get(scope, {}).values())
        try:
            raw = self.client.hvals(scope)
        except redis.RedisError as exc:
            warn(LAYER, exc)
            return []
        return [codec.unpack(_as_bytes(r)) for r in raw]

    def _trim(self, scope: str) -> None:
        assert self.client is not None
        items = self.client.hgetall(scope)
        ordered = sorted(items.items(), key=lambda kv: codec.unpack(_as_bytes(kv[1]))["t"])
        excess = len(ordered) - MAX_ENTRIES_PER_SCOPE
        if excess > 0:
            self.client.hdel(scope, *[k for k, _ in ordered[:excess]])


# --- measuring the semantic cache on labelled pairs ----------------------------------------


def evaluate_pairs(pairs: Sequence[dict[str, Any]], sims: Sequence[float],
                   threshold: float) -> dict[str, float]:
    """Precision, recall and false-hit rate of "similar enough and guard passes" on pairs
    labelled ``paraphrase`` or ``near_miss``; ``sims`` are the pairs' cosine similarities."""
    tp = fp = paraphrases = near = 0
    for pair, sim in zip(pairs, sims, strict=True):
        hit = sim >= threshold and guard_ok(pair["a"], pair["b"])
        if pair["label"] == "paraphrase":
            paraphrases += 1
            tp += hit
        else:
            near += 1
            fp += hit
    return {
        "threshold": threshold,
        "precision": tp / (tp + fp) if tp + fp else 1.0,
        "recall": tp / paraphrases if paraphrases else 0.0,
        "false_hit_rate": fp / near if near else 0.0,
        "hits": tp + fp,
        "paraphrases": paraphrases,
        "near_misses": near,
    }


def pair_similarities(pairs: Sequence[dict[str, Any]], embedder: Any) -> list[float]:
    a = embedder.embed([p["a"] for p in pairs])
    b = embedder.embed([p["b"] for p in pairs])
    return [float(x) for x in np.sum(a * b, axis=1)]


def sweep(pairs: Sequence[dict[str, Any]], sims: Sequence[float],
          thresholds: Iterable[float]) -> list[dict[str, float]]:
    return [evaluate_pairs(pairs, sims, t) for t in thresholds]


def _as_bytes(value: bytes | str) -> bytes:
    """Redis answers bytes, or str from a client made with ``decode_responses``."""
    return value.encode() if isinstance(value, str) else value
