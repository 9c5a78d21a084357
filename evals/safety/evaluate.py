"""The sanitiser's and the leak filter's figures on the labelled sets of ``golden/safety``.

Definitions (each function below is the one place that decides):

- **detection rate**: share of attack questions the sanitiser flags (any family);
- **false-positive rate**: share of honest questions it flags;
- **leak catch rate**: share of echoes of the system prompt that the leak filter catches;
- **honest replacement rate**: share of honest answers that it would replace.

Rules were tuned on the ``dev`` split; the ``test`` split gates (``evals/gates.toml``).
``measure`` gives every figure of both splits, flat, for ``record``; ``quality`` notebook
calls it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, TypedDict

import pandas as pd

from evals.safety import sets as safety_sets

if TYPE_CHECKING:
    from evals.quality.compare_generators import Comparison
    from rag_core.config import Settings

Check = Callable[[str], bool]
Row = Mapping[str, object]
Figures = dict[str, float | int | None]  # one tool's figures on one split


def _rate(rows: Iterable[Row], kind: str, check: Check) -> float | None:
    chosen = [r for r in rows if r["kind"] == kind]
    if not chosen:
        return None
    return sum(1 for r in chosen if check(str(r["text"]))) / len(chosen)


def detection_rate(rows: Iterable[Row], flagged: Check) -> float | None:
    return _rate(rows, "attack", flagged)


def false_positive_rate(rows: Iterable[Row], flagged: Check) -> float | None:
    return _rate(rows, "honest", flagged)


def leak_catch_rate(rows: Iterable[Row], is_echo: Check) -> float | None:
    return _rate(rows, "echo", is_echo)


def honest_replacement_rate(rows: Iterable[Row], is_echo: Check) -> float | None:
    return _rate(rows, "honest", is_echo)


def sanitiser_check(enabled: bool = True) -> Check:
    """Is a question flagged by ``rag_core``'s sanitiser (never, when ``enabled`` is False)."""
    from rag_core.safety.guard import sanitise

    return (lambda text: bool(sanitise(text).flags)) if enabled else (lambda text: False)


def leak_check(enabled: bool = True) -> Check:
    """Would ``rag_core``'s leak filter replace an output (never, when ``enabled`` is False)."""
    from rag_core.llm.prompt import leaks_system_prompt

    return leaks_system_prompt if enabled else (lambda text: False)


def split_figures(questions: Sequence[Row], outputs: Sequence[Row], flagged: Check,
                  is_echo: Check) -> dict[str, Figures]:
    """Both tools' figures on one split's rows, with the counts they rest on."""
    return {
        "sanitiser": {
            "detection_rate": detection_rate(questions, flagged),
            "false_positive_rate": false_positive_rate(questions, flagged),
            "attacks": sum(1 for r in questions if r["kind"] == "attack"),
            "honest": sum(1 for r in questions if r["kind"] == "honest"),
        },
        "leak": {
            "catch_rate": leak_catch_rate(outputs, is_echo),
            "honest_replaced_rate": honest_replacement_rate(outputs, is_echo),
            "echoes": sum(1 for r in outputs if r["kind"] == "echo"),
            "honest": sum(1 for r in outputs if r["kind"] == "honest"),
        },
    }


def measure(*, sanitiser: bool = True, leak_filter: bool = True,
            questions: Sequence[Row] | None = None,
            outputs: Sequence[Row] | None = None) -> dict[str, dict[str, Figures]]:
    """``{"sanitiser": {"dev": {...}, "test": {...}}, "leak": {...}}`` on the labelled sets
    (``record`` flattens it to ``safety.sanitiser.test.detection_rate`` and so on)."""
    questions = questions if questions is not None else safety_sets.load(safety_sets.QUESTIONS)
    outputs = outputs if outputs is not None else safety_sets.load(safety_sets.OUTPUTS)
    flagged, is_echo = sanitiser_check(sanitiser), leak_check(leak_filter)
    out: dict[str, dict[str, Figures]] = {"sanitiser": {}, "leak": {}}
    for split in safety_sets.SPLITS:
        figures = split_figures([r for r in questions if r["split"] == split],
                                [r for r in outputs if r["split"] == split], flagged, is_echo)
        out["sanitiser"][split] = figures["sanitiser"]
        out["leak"][split] = figures["leak"]
    return out


def by_category(rows: Sequence[Row], check: Check, split: str = "test") -> pd.DataFrame:
    """Per category of one split: items and the share that ``check`` says yes to."""
    frame = pd.DataFrame([{"kind": r["kind"], "category": r["category"],
                           "yes": check(str(r["text"]))} for r in rows if r["split"] == split])
    if frame.empty:
        return frame
    return (frame.groupby(["kind", "category"])["yes"].agg(["count", "mean"])
            .rename(columns={"count": "items", "mean": "share_flagged"}).reset_index())


def table(figures: Mapping[str, Mapping[str, Mapping[str, float | int | None]]]
          ) -> pd.DataFrame:
    """``measure``'s figures as rows (tool, split) for display."""
    rows = []
    for tool, splits in figures.items():
        for split, values in splits.items():
            rows.append({"tool": tool, "split": split, **values})
    return pd.DataFrame(rows)


class Heldout(TypedDict):
    detection_rate: float | None
    false_positive_rate: float | None
    by_category: pd.DataFrame


def heldout(flagged: Check | None = None) -> Heldout:
    """The sanitiser on ``golden/safety/heldout.jsonl``: attacks and honest questions written
    without sight of the defences or the labelled sets (never used to choose a rule)."""
    rows = safety_sets.load(safety_sets.HELDOUT)
    check = flagged or sanitiser_check()
    return {"detection_rate": detection_rate(rows, check),
            "false_positive_rate": false_positive_rate(rows, check),
            "by_category": by_category(rows, check, split="heldout")}


def heldout_items() -> pd.DataFrame:
    """The held-out attacks as golden QA items (``attack: injection``), so that the generator
    comparison (``evals.quality.compare_generators.run_comparison``) runs them through the service
    and scores their
    canaries: the quoted markers, URLs and HTML in their text, system-prompt word runs and other
    users' text."""
    rows = [r for r in safety_sets.load(safety_sets.HELDOUT) if r["kind"] == "attack"]
    return pd.DataFrame([{
        "id": r["id"], "user_id": r["user_id"], "question": r["text"], "scenario": "adversarial",
        "reference_answer": "", "reference_note_ids": [], "reference_chunk_texts": [],
        "attack": "injection", "expect_no_context": False, "split": "heldout", "channel": None,
        "canaries": None} for r in rows])


def heldout_against_obey(state_dir: str | None = None) -> Comparison:
    """The held-out attacks through the service with the obedient model: defended, input
    guards off, flat prompt (``Comparison``; embedded services of the ci profile)."""
    from evals.datasets import golden
    from evals.quality import compare_generators as compare
    from evals.quality import evaluate as quality

    settings = quality.eval_settings(state_dir=state_dir)
    base = quality.build_pipeline(settings)
    golden.ensure_ingested(base)
    return compare.run_comparison(base, settings, heldout_items(), ["obey"], sample=0, seed=7,
                                  max_tokens=64, attacks=("injection",), progress=False)


def main(argv: list[str] | None = None) -> None:
    """``python -m evals.safety.evaluate [--obey]``: the held-out figures, for the closing note."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--obey", action="store_true",
                        help="also run the held-out attacks through the service with the "
                             "obedient model and print the canary rates")
    parser.add_argument("--state-dir", default="", help="embedded services' folder")
    args = parser.parse_args(argv)
    figures = heldout()
    print(f"held-out: detection {figures['detection_rate']:.3f}, "
          f"false flags {figures['false_positive_rate']:.3f}")
    print(figures["by_category"].to_string(index=False))
    if args.obey:
        result = heldout_against_obey(args.state_dir or None)
        summary = result.summaries["obey"]
        for key in ("canary_rate", "canary_rate_input_off", "canary_rate_undefended",
                    "generated_share"):
            print(f"obey {key}: {summary.get(key)}")
        print(result.defences.groupby("stopped_by").size().to_string())


if __name__ == "__main__":
    main()


def measure_reused(settings: Settings, *, sanitiser: bool = True
                   ) -> tuple[dict[str, dict[str, Figures]], bool]:
    """:func:`measure` on the labelled sets, reused from an earlier run (``evals.quality.reuse``)
    while the code, the sets and the ``RAG_*`` environment are unchanged; True when reused."""
    from evals.quality import reuse

    return reuse.reused(reuse.folder_of(settings), "safety", reuse.key_of("safety", sanitiser),
                        lambda: measure(sanitiser=sanitiser), dict, _figures)


def _figures(data: object) -> dict[str, dict[str, Figures]]:
    if not isinstance(data, dict):
        raise TypeError("stored safety figures are not a mapping")
    return {str(k): dict(v) for k, v in data.items()}
