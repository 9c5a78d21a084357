"""Benchmark of the local model (figures, not a test): load cold and warm, prompt processing and
decoding speed of SmolLM2-135M-Instruct on this CPU, per setting, in one run.

    python benchmarks/bench_local_llm.py [--repeats 3] [--prompt-tokens 1000] [--cold]
                                         [--threads 1 2] [--quantize none int8]

Load: ``--cold`` converts the GGUF into a fresh temporary state folder (what the first start on
a machine pays); warm loads the converted model from ``RAG_STATE_DIR`` (every later start).
Speed: for each (threads, quantize) a prompt of about ``--prompt-tokens`` tokens (a golden note
repeated, in the real chat template) is answered with ``--new-tokens`` tokens, greedy, the
settings interleaved repeat by repeat so that the machine's load hits all of them; it prints
the median prompt time (tokens/s) and decoding speed (tokens/s) with their range, and the ratio
of each setting to the first one.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _prompt(tokens: int) -> list[dict[str, str]]:
    body = (ROOT / "golden" / "notes" / "amara" / "amara-001.md").read_text().split("---", 2)[2]
    words = body.split()
    text = " ".join(words * (1 + tokens // len(words)))[: tokens * 4]
    return [{"role": "system", "content": "Answer from the notes only."},
            {"role": "user", "content": f"Notes:\n{text}\n\nQuestion: How old was Abraham?"}]


def _time_one(model: Any, messages: list[dict[str, str]], new_tokens: int) -> tuple[float, float,
                                                                                       int, int]:
    start = time.perf_counter()
    first = None
    done = None
    for item in model.stream(messages, new_tokens):
        if first is None:
            first = time.perf_counter() - start
        done = item
    total = time.perf_counter() - start
    assert done is not None and first is not None
    return first, total - first, done.prompt_tokens, done.completion_tokens


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--prompt-tokens", type=int, default=1000)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--quantize", nargs="+", default=["none", "int8"])
    parser.add_argument("--cold", action="store_true", help="also time a first conversion")
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args(argv)

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    from rag_core.config import Settings
    from rag_core.devservers.local_model import LocalModel, ensure_converted

    state = Settings().services.state_dir
    figures: dict[str, Any] = {"load": {}, "speed": []}
    if args.cold:
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            ensure_converted(tmp)
            figures["load"]["cold_convert_s"] = round(time.perf_counter() - start, 2)
    ensure_converted(state)
    models = {}
    for quantize in args.quantize:
        start = time.perf_counter()
        models[quantize] = LocalModel(state, quantize=quantize)
        figures["load"][f"warm_{quantize}_s"] = round(time.perf_counter() - start, 2)
    messages = _prompt(args.prompt_tokens)
    settings = [(t, q) for q in args.quantize for t in args.threads]
    runs: dict[tuple[int, str], list[tuple[float, float, int, int]]] = {s: [] for s in settings}
    for _ in range(args.repeats):
        for threads, quantize in settings:
            torch.set_num_threads(threads)
            runs[(threads, quantize)].append(_time_one(models[quantize], messages,
                                                       args.new_tokens))
    base = None
    for threads, quantize in settings:
        rows = runs[(threads, quantize)]
        prompt_rate = [p / f for f, _, p, _ in rows]
        decode_rate = [max(c - 1, 1) / d for _, d, _, c in rows]
        row = {"threads": threads, "quantize": quantize, "prompt_tokens": rows[0][2],
               "prompt_tok_s": round(statistics.median(prompt_rate), 1),
               "prompt_tok_s_range": [round(min(prompt_rate), 1), round(max(prompt_rate), 1)],
               "decode_tok_s": round(statistics.median(decode_rate), 2),
               "decode_tok_s_range": [round(min(decode_rate), 2), round(max(decode_rate), 2)]}
        base = base or row
        row["prompt_ratio"] = round(row["prompt_tok_s"] / base["prompt_tok_s"], 2)
        row["decode_ratio"] = round(row["decode_tok_s"] / base["decode_tok_s"], 2)
        figures["speed"].append(row)
    figures["load_average"] = os.getloadavg()
    print(json.dumps(figures, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
