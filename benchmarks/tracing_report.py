"""What ``bench_tracing.py`` prints: per way in, kind and mode, p50 and p99 pooled over the
rounds, their ratio to ``off``, the per-round ratios' median and spread, and a 90 % interval of
each pooled ratio (the rounds drawn again with replacement); the spans exported and dropped and
the CPU the receiver used per span."""

from __future__ import annotations

import argparse
import os
import statistics

import numpy as np

Times = dict[str, dict[str, dict[str, list[list[float]]]]]  # way, mode, kind: ms per round
KINDS = ("miss", "hit", "miss cpu", "hit cpu", "turn cpu")


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def per_round(mine: list[list[float]], off: list[list[float]], q: int) -> str:
    """The median over rounds of one percentile's ratio to ``off`` in the same round, and
    its spread: the noise to read the pooled ratio against."""
    ratios = [pct(a, q) / pct(b, q) for a, b in zip(mine, off, strict=True)]
    return (f" p{q} ratio median {statistics.median(ratios):.3f} (spread {min(ratios):.3f} to "
            f"{max(ratios):.3f})")


def interval(mine: list[list[float]], off: list[list[float]], q: int, draws: int = 2000
             ) -> tuple[float, float]:
    """A 90 % interval of the pooled p``q`` ratio to ``off``: the rounds drawn again with
    replacement (each round's two modes together, as they ran side by side), ``draws`` times.
    It holds the spread between rounds as well as the tail's own sampling noise."""
    rng = np.random.default_rng(0)
    ratios = []
    for _ in range(draws):
        picked = rng.integers(0, len(off), len(off))
        ratios.append(np.percentile(np.concatenate([mine[i] for i in picked]), q)
                      / np.percentile(np.concatenate([off[i] for i in picked]), q))
    return float(np.percentile(ratios, 5)), float(np.percentile(ratios, 95))


def report(times: Times, args: argparse.Namespace, load_before: tuple[float, float, float],
           spans: dict[str, dict[str, float]], cost: dict[str, float]) -> None:
    print(f"\ntracing overhead: {args.rounds} rounds of {args.misses} misses and {args.hits} "
          f"hits per mode, the rounds in {args.orders} orders shuffled anew in each block of "
          f"{args.orders} (seed {args.seed}); load average before "
          f"{load_before[0]:.1f}, after {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; "
          "the viewer "
          + ("in the idle class" if args.viewer_nice == "idle"
             else f"at niceness +{args.viewer_nice}")
          + (f"; {args.pace:g} ms between requests" if args.pace else "")
          + ("; the app and its databases on CPUs {}, the viewer on "
             "{}".format(*args.cpus.split("/")) if args.cpus else "")
          + ("; the receiver idle before each mode's turn" if args.settle else ""))
    if cost:
        print("the spans of one cached answer on the request's path (tracing_modes.hit_spans, "
              "best of 25 runs of 200): "
              + ", ".join(f"{mode} {us:.1f} us" for mode, us in cost.items()))
    for way, by_mode in times.items():
        how = ("in process (ASGITransport)" if way == "process"
               else "served (uvicorn, HTTP over loopback)")
        exported = spans[way]["exported"]
        print(f"{way}: {how}; spans exported {exported:.0f}, dropped "
              f"{spans[way]['dropped']:.0f}; the "
              f"receiver's {spans[way]['viewer_cpu_s']:.2f} s ("
              f"{1e6 * spans[way]['viewer_cpu_s'] / max(exported, 1):.1f} us a span)")
        if spans[way]["dropped"]:
            print("  SPANS WERE DROPPED: the export or the receiver fell behind, so `on` sent "
                  "fewer spans than it made; read its figures as a lower bound (fewer hits a "
                  "round, or a faster receiver)")
        for kind in KINDS:  # the wall clock, then the CPU time (steadier on a busy machine)
            target = 5 if kind.startswith("miss") else 10
            off = by_mode["off"][kind]
            pooled = [ms for one in off for ms in one]
            print(f"  {kind} (target on/off <= {1 + target / 100:.2f}): off p50 "
                  f"{pct(pooled, 50):.2f} ms, p99 {pct(pooled, 99):.2f} ms (n={len(pooled)})")
            for mode, got in by_mode.items():
                if mode == "off":
                    continue
                every = [ms for one in got[kind] for ms in one]
                print(f"    {mode:6} p50 {pct(every, 50):8.2f} ms  p99 {pct(every, 99):8.2f} ms"
                      f" | {mode}/off p50 {pct(every, 50) / pct(pooled, 50):.3f} p99 "
                      f"{pct(every, 99) / pct(pooled, 99):.3f} | per round"
                      + "".join(per_round(got[kind], off, q) for q in (50, 99))
                      + " | 90 % interval" + "".join(
                          " p{} {:.3f}-{:.3f}".format(q, *interval(got[kind], off, q))
                          for q in (50, 99)))
