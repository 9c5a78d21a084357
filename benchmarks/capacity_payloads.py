"""The entries ``bench_redis_capacity.py`` writes: answers, free answers and semantic entries
of realistic sizes, or as large as the write paths allow (``--worst-case``)."""

from __future__ import annotations

import random

from rag_core.cache import answer_codec
from rag_core.redis_kv import codec

WORDS = ["grace", "faith", "hope", "covenant", "mercy", "prayer", "psalm", "shepherd", "valley",
         "bread", "wall", "Jerusalem", "Nehemiah", "Abraham", "Ruth", "Okafor", "sermon",
         "series", "Hebrews", "promise", "lament", "rest"]


def text(rng: random.Random, chars: int) -> str:
    out: list[str] = []
    size = 0
    while size < chars:
        word = rng.choice(WORDS)
        out.append(word)
        size += len(word) + 1
    return " ".join(out)[:chars]


class Payloads:
    """Entries of realistic sizes (a pool of texts, each entry made distinct by its question);
    ``worst``: as large as the write paths allow (the module's docstring)."""

    def __init__(self, seed: int = 7, worst: bool = False) -> None:
        rng = random.Random(seed)
        self.worst = worst
        self.answers = [text(rng, 1_600 if worst else 3_300) for _ in range(32)]
        self.chunks = [text(rng, 1_000 if worst else 500) for _ in range(64)]
        # the rows a free answer lists: top_k (50 at worst, the default 5), fewer when over
        # the free answers' byte limit (bench_redis_capacity._free_fit)
        self.free_rows = 50 if worst else 5

    def question(self, n: int) -> str:
        asked = f"What did the sermon say about {WORDS[n % len(WORDS)]}, question {n}?"
        return (asked + " " + self.chunks[n % 64])[:1_000] if self.worst else asked

    def _note(self, i: int, k: int) -> tuple[str, str]:
        return (((f"n{i}-{k}-" + "i" * 200)[:200], (f"T{i}-{k} " + self.chunks[(i + k) % 64])[:300])
                if self.worst else (f"n{k}", "A sermon"))

    def answer(self, question: str, i: int) -> bytes:
        cites = [{"n": k + 1, "chunk_id": f"{note}:0:abcdef012345", "note_id": note,
                  "title": title, "score": 0.71}
                 for k, (note, title) in enumerate(self._note(i, k) for k in range(50))]
        rows = [{"chunk_id": c["chunk_id"], "note_id": c["note_id"], "title": c["title"],
                 "score": 0.71 - k / 100, "dense_rank": k + 1, "lexical_rank": k + 2,
                 "fused_score": 0.03} for k, c in enumerate(cites)] if self.worst else []
        return answer_codec.pack({"answer": question + " " + self.answers[i % 32],
                                  "citations": cites[:3], "retrieved": rows,
                                  "no_context": False, "generator": "hf", "cost_usd": 0.0003,
                                  "question": question})

    def semantic(self, question: str, vector: bytes, answer_at: str, now: float, ttl: int,
                 i: int) -> tuple[bytes, bytes]:
        chunks = [self.chunks[(i + k) % 64] for k in range(5)]
        notes = [self._note(i, k)[0] for k in range(5)]
        entry = {"q": question, "v": vector, "r": answer_at,
                 "x": {"c": [f"{n}:0:abcdef012345" for n in notes], "n": notes, "t": chunks},
                 "f": {"names": ["okafor"], "numbers": [], "refs": [], "neg": False},
                 "t": now, "e": now + ttl}
        return codec.pack(entry), codec.pack({"v": vector, "t": now, "e": now + ttl})


    def free_answer(self, question: str, i: int, rows: int) -> bytes:
        """A "nothing in your notes" answer as ``AnswerLayer.put_no_context`` keeps it (what a
        hit sets from its own request left empty: ``answer_layer.free_entry``), listing
        ``rows`` retrieved chunks."""
        retrieved = [{"chunk_id": f"{note}:0:abcdef012345", "note_id": note, "title": title,
                      "score": 0.31 - k / 1000, "dense_rank": k + 1, "lexical_rank": k + 2,
                      "fused_score": 0.03}
                     for k, (note, title) in enumerate(self._note(i, k) for k in range(rows))]
        detail = "names the question uses, in none of your notes: ['zerubbabel']"
        relevance = {"answer": False, "reason": "names",
                     "checks": {"names": {"passed": False, "detail": detail},
                                "similarity": {"passed": True,
                                               "detail": "best cosine 0.311 vs floor 0.050"}}}
        return answer_codec.pack({
            "answer": "I couldn't find anything about that in your notes.", "citations": [],
            "no_context": True, "generator": "none", "cache": {},
            "usage": {"input_tokens": 0, "output_tokens": 0}, "cost_usd": 0.0,
            "timings_ms": {}, "request_id": "", "stale": False, "query_truncated": False,
            "flags": [], "retrieved": retrieved, "budget_state": "ok",
            "decisions": {"relevance": relevance}, "answer_id": f"{i:032x}",
            "question": question,
            "no_context_reason": f"not_found: a name the question uses is in none of your notes "
                                 f"(names: {detail})"})
