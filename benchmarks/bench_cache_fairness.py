"""One user's flood against everyone else's cached answers: the per-user share of each layer.

``--users`` users each leave ``--each`` answers in the cache layers (bounded at ``--bound``
entries per layer), then one more user asks ``--flood`` new questions. Every answer goes
through ``AnswerLayer.put`` (its L1 key, its stale body, its semantic entry) and the
question's vector through ``EmbeddingLayer.vector``, into a real ``redis-server``. The last line is
JSON: per layer, the entries the other users still hold (of what they wrote), the entries the
flooding user holds, the layer's total; how many of the other users' answers are still
served (L1 hits); and the flood's seconds.

    python benchmarks/bench_cache_fairness.py [--bound 1000] [--users 50] [--each 15]
        [--flood 5000]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from rag_core.answer import Answer
from rag_core.cache.layers import CacheLayers
from rag_core.cache.shares import user_shares
from rag_core.config import Retrieval, Settings
from rag_core.parts import build_caches, build_semantic_judge
from rag_core.procs import free_port
from rag_core.redis_kv.client import connect
from rag_core.services import new_password, password_url, spawn_redis
from rag_core.types import TokenUsage

LAYERS = ("query", "stale", "semantic", "embedding")


def ask(layers: CacheLayers, params: Retrieval, user: str, n: int) -> str:
    question = f"What did the sermon say about grace, question {n} of {user}?"
    vector = np.random.default_rng(n).standard_normal(384).astype(np.float32)
    vector /= np.linalg.norm(vector)
    key = layers.answers.key(params, user, 1, question, 5)
    layers.answers.put(key, Answer(answer=question, citations=[], no_context=False,
                                  generator="hf", cache={}, usage=TokenUsage(10, 10),
                                  cost_usd=0.0001, timings_ms={}, request_id="r"),
                      user_id=user, notes_version=1, question=question, vector=vector)
    layers.vectors.vector(user, question, 384, lambda _: vector)
    return key


def run(args: argparse.Namespace) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="rfair-"))
    port = free_port()
    password = new_password()  # on TCP: closed to other accounts by a password
    proc = spawn_redis(tmp / "redis", port, persist=False, password=password)
    try:
        url = password_url(port, password)
        settings = Settings(profile="prod", redis_url=url, state_dir=tmp / "state",
                            jwt_secret="b" * 64, database_url="postgresql://unused",
                            cache_max_entries=args.bound)
        layers = build_caches(settings, connect(url, timeout_s=30.0),
                              build_semantic_judge(settings))
        params = settings.retrieval
        users = [f"user-{n:03d}" for n in range(args.users)]
        for user in [*users, "flooder"]:
            layers.notes.current(user, lambda _: 1)
        kept = [ask(layers, params, u, 1_000 * i + k) for i, u in enumerate(users)
                for k in range(args.each)]
        started = time.perf_counter()
        for n in range(args.flood):
            ask(layers, params, "flooder", 10_000_000 + n)
        seconds = time.perf_counter() - started
        others = {layer: sum(user_shares(layers, u)[layer]["entries"] for u in users)
                  for layer in LAYERS}
        flood = {layer: user_shares(layers, "flooder")[layer]["entries"] for layer in LAYERS}
        served = sum(layers.answers.get(k)[1] == "hit" for k in kept)
        return {"bound": args.bound, "users": args.users, "each": args.each,
                "written_by_others": len(kept), "flood": args.flood,
                "others_hold": others, "flooder_holds": flood,
                "layer_entries": {layer: others[layer] + flood[layer] for layer in LAYERS},
                "others_answers_served": served, "flood_seconds": round(seconds, 1)}
    finally:
        proc.kill()
        proc.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bound", type=int, default=1_000)
    ap.add_argument("--users", type=int, default=50)
    ap.add_argument("--each", type=int, default=15)
    ap.add_argument("--flood", type=int, default=5_000)
    print(json.dumps(run(ap.parse_args())))


if __name__ == "__main__":
    main()
