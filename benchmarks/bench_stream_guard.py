"""Benchmark of step 7 on a stream (figures, not a test): the CPU a streamed answer costs in
``OutputGuard`` against one ``finish`` of the same whole answer (the floor: the checks must read
the answer at least once), and against checking at every piece (``step=0``, the old way).

    python benchmarks/bench_stream_guard.py [--chars 600] [--piece 4] [--repeats 7]

The answer is a cited, honest one (no leak, so every check runs to the end), fed in pieces of
``--piece`` characters as a model's tokens arrive. Prints medians over the repeats and the
ratios to ``finish`` measured in the same run.
"""

from __future__ import annotations

import argparse
import statistics
import time

from rag_core.postprocess import OutputGuard, finish
from rag_core.types import Chunk

SENTENCES = (
    "According to your notes, Naaman was told to wash seven times in the Jordan [1].",
    "He was angry at first and said the rivers of Damascus were better [2].",
    "His servants persuaded him, and he was healed [3].",
    "The sermon said humility comes before healing, and the least important person in the "
    "story carries the word [4].",
)
QUESTION = "What did Naaman do?"


def answer(chars: int) -> str:
    text = ""
    while len(text) < chars:
        text += " ".join(SENTENCES) + " "
    return text[:chars].rsplit(" ", 1)[0]


def streamed(text: str, sources: list[Chunk], piece: int, step: int) -> float:
    start = time.perf_counter()
    guard = OutputGuard(sources, 160, QUESTION, step=step)
    for i in range(0, len(text), piece):
        guard.feed(text[i:i + piece])
    guard.close()
    return time.perf_counter() - start


def whole(text: str, sources: list[Chunk]) -> float:
    start = time.perf_counter()
    finish(text, sources, QUESTION)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chars", type=int, default=600)
    parser.add_argument("--piece", type=int, default=4, help="characters per streamed piece")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    sources = [Chunk(chunk_id=f"c{i}", note_id=f"n{i}", user_id="u", ordinal=0, text="t",
                     metadata={}) for i in range(5)]
    text = answer(args.chars)
    rows: dict[str, list[float]] = {"finish (whole answer)": [], "OutputGuard step 40": [],
                                    "OutputGuard step 0 (every piece)": []}
    for _ in range(args.repeats):  # interleaved, so that drift hits all three
        rows["finish (whole answer)"].append(whole(text, sources))
        rows["OutputGuard step 40"].append(streamed(text, sources, args.piece, 40))
        rows["OutputGuard step 0 (every piece)"].append(streamed(text, sources, args.piece, 0))
    floor = statistics.median(rows["finish (whole answer)"])
    print(f"{len(text)} characters in pieces of {args.piece}; medians of {args.repeats}")
    print(f"{'':34} {'ms':>9} {'x finish':>9}")
    for name, values in rows.items():
        median = statistics.median(values)
        print(f"{name:34} {median * 1000:9.1f} {median / floor:9.1f}")


if __name__ == "__main__":
    main()
