"""Model routing off against on over the golden set: what the cheaper model saves per answer
and what it moves in each gated quality figure (notebook 01's routing comparison).

Two mock LLM servers stand for the two models (``rag_core.devservers.mock_server``): the main
one answers from every note it is given; the cheap one is a weaker model (``cite_notes``: it
answers from and cites its first notes only) sold at lower prices. The same questions are asked
through the same store, embedder and retrieval twice: with ``RAG_LLM_ROUTE=off`` (every answer by
the main model) and ``on`` (the rule of ``rag_core.llm.route`` sends the easy ones to the cheap
model), each on fresh caches and a ledger of its own (no cost rows are written).

Each gated quality figure (a ``quality.<figure>`` gate of ``evals/gates.toml`` that the quality
run records) is compared with the 95 % bootstrap interval of the off run's figure: the questions
resampled with replacement (seeded), the figure computed on each resample as the run computes
it (``evaluate.split_metrics``). ``figures_outside`` counts the figures that routing on moved out
of their interval; the gate holds it at 0 while the cost per answer falls.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from evals import gates as gates_file
from evals.quality import evaluate as quality
from rag_core.config import Settings
from rag_core.pipeline import Pipeline

MAIN_MODEL, CHEAP_MODEL = "mock-main", "mock-cheap"
PREFIX = "route."  # the comparison's own figures, under quality.route.*


@dataclass(frozen=True)
class Models:
    """The two mock models: the cheap one's weakness (notes it cites) and its prices."""

    cheap_cite_notes: int = 1
    cheap_input_usd: float = 0.00000002
    cheap_output_usd: float = 0.00000006


def gated_figures(recorded: Mapping[str, object],
                  names: Sequence[str] | None = None) -> list[str]:
    """The figures of a quality run (``split_metrics``) that a ``quality.*`` gate reads
    (``names``: the gates' names; default: those of evals/gates.toml)."""
    if names is None:
        names = [g.name for g in gates_file.load_gates()]
    figures = [n.removeprefix("quality.") for n in names if n.startswith("quality.")]
    return [f for f in figures if not f.startswith(PREFIX)
            and isinstance(recorded.get(f), int | float) and not isinstance(recorded.get(f), bool)]


def intervals(frame: pd.DataFrame, figures: Sequence[str], split: str, *, n_boot: int = 200,
              seed: int = 7, level: float = 0.95,
              measure: Callable[[pd.DataFrame, str], Mapping[str, object]] = quality.split_metrics
              ) -> dict[str, tuple[float, float]]:
    """(low, high) of each figure over ``n_boot`` resamples of the rows (seeded)."""
    rng = np.random.default_rng(seed)
    drawn: dict[str, list[float]] = {f: [] for f in figures}
    for _ in range(n_boot):
        sample = frame.iloc[rng.integers(0, len(frame), size=len(frame))].reset_index(drop=True)
        values = measure(sample, split)
        for f in figures:
            value = values.get(f)
            if isinstance(value, int | float) and not np.isnan(value):
                drawn[f].append(float(value))
    tail = (1 - level) / 2
    out = {}
    for f, resampled in drawn.items():
        if resampled:
            low, high = np.quantile(resampled, [tail, 1 - tail])
            out[f] = (float(low), float(high))
    return out


def figures_table(off: Mapping[str, object], on: Mapping[str, object],
                  bounds: Mapping[str, tuple[float, float]]) -> pd.DataFrame:
    """One row per gated figure: off, on, moved (on - off), the off run's interval and
    whether on is inside it (a figure whose off value is exact has the interval [it, it]).
    A figure only one run measured is left out."""
    rows = []
    for figure, (low, high) in bounds.items():
        a, b = off.get(figure), on.get(figure)
        if not isinstance(a, int | float) or not isinstance(b, int | float):
            continue
        low, high = min(low, float(a)), max(high, float(a))
        rows.append({"figure": figure, "off": float(a), "on": float(b),
                     "moved": float(b) - float(a), "ci_low": low, "ci_high": high,
                     "inside": bool(low - 1e-12 <= float(b) <= high + 1e-12)})
    return pd.DataFrame(rows, columns=["figure", "off", "on", "moved", "ci_low", "ci_high",
                                       "inside"])


def cost_figures(off: pd.DataFrame, on: pd.DataFrame) -> dict[str, float | int | None]:
    """Cost per answer off and on, saved and their ratio; the share of answers the cheap model
    wrote (``model``) and of those where it failed and the main one answered (``fell_back``)."""
    def mean(frame: pd.DataFrame) -> float | None:
        values = pd.to_numeric(frame.get("cost_usd"), errors="coerce").dropna()
        return float(values.mean()) if len(values) else None

    cost_off, cost_on = mean(off), mean(on)
    models = on.get("model", pd.Series(dtype=str)).fillna("")
    answered = models[models != "none"]
    return {
        "cost_per_answer_off": cost_off, "cost_per_answer_on": cost_on,
        "cost_saved_per_answer": (cost_off - cost_on) if cost_off is not None
        and cost_on is not None else None,
        "cost_ratio": (cost_on / cost_off) if cost_off and cost_on is not None else None,
        "cheap_share": float((answered == CHEAP_MODEL).mean()) if len(answered) else None,
        "fell_back": int(on.get("route_fell_back", pd.Series(dtype=bool)).fillna(False).sum()),
    }


@dataclass
class RouteComparison:
    off: pd.DataFrame  # one row per question, routing off
    on: pd.DataFrame  # routing on
    figures: pd.DataFrame  # figures_table
    costs: dict[str, float | int | None]
    settings: dict[str, object]  # the route's settings of the on run
    # the off run's figures and their bootstrap intervals, and what they were measured on
    # (the questions, the models, the resampling): ``sweep`` reuses them when it matches
    off_figures: dict[str, object] = field(default_factory=dict)
    bounds: dict[str, tuple[float, float]] = field(default_factory=dict)
    asked_on: tuple[object, ...] = ()

    def metrics(self) -> dict[str, object]:
        """``route.*`` for ``record`` (under quality.)."""
        inside = self.figures["inside"] if not self.figures.empty else pd.Series(dtype=bool)
        out: dict[str, object] = {f"{PREFIX}{k}": v for k, v in self.costs.items()}
        out[f"{PREFIX}figures_checked"] = int(len(inside))
        out[f"{PREFIX}figures_outside"] = int((~inside.astype(bool)).sum())
        for row in self.figures.itertuples():
            out[f"{PREFIX}moved.{row.figure}"] = row.moved
        return out


def _route_columns(item: object, answer: object, texts: object) -> dict[str, object]:
    route = getattr(getattr(answer, "decisions", None), "route", None)
    return {"model": getattr(answer, "model", ""),
            "route": route.route if route is not None else "",
            "route_fell_back": bool(route.fell_back) if route is not None else False}


def _pipeline(pipeline: Pipeline, settings: Settings) -> Pipeline:
    from rag_core.parts import build_generator, variant

    return Pipeline(variant(pipeline.parts, settings=settings, fresh_caches=True,
                            generator=build_generator(settings, None)))


@dataclass
class _Runs:
    """The two mock models up and what every run of one comparison or sweep shares: ``base``
    (the Settings naming both models, the rule's settings not yet applied) and the questions.
    The mocks answer the same messages the same way whatever came before (their only draws
    are the timeout and error rolls, both at rate 0 here), so one pair serves every run."""

    pipeline: Pipeline
    base: Settings
    asked: pd.DataFrame
    sample: int
    seed: int
    owners: Mapping[str, str] | None

    def ask(self, state: str, route: Mapping[str, object]) -> tuple[pd.DataFrame, Settings]:
        settings = self.base.with_overrides(llm_route=state, **route)
        return quality.run_quality_eval(
            settings, self.asked, self.sample, seed=self.seed,
            pipeline=_pipeline(self.pipeline, settings), owners=self.owners,
            label=f"routing {state}", extra=_route_columns), settings


@contextmanager
def _models_up(pipeline: Pipeline, qa: pd.DataFrame, split: str, sample: int, seed: int,
               models: Models, owners: Mapping[str, str] | None) -> Iterator[_Runs]:
    from rag_core.devservers.mock_server import start_mock

    asked = qa[qa["split"].fillna("test") == split] if "split" in qa else qa
    with ExitStack() as stack:
        main_url, stop, _ = start_mock(model=MAIN_MODEL, strict_model=True)
        stack.callback(stop)
        cheap_url, stop, _ = start_mock(model=CHEAP_MODEL, strict_model=True,
                                        cite_notes=models.cheap_cite_notes)
        stack.callback(stop)
        base = pipeline.parts.settings.with_overrides(
            llm="hf", llm_base_url=f"{main_url}/v1", llm_model=MAIN_MODEL, llm_max_retries=0,
            llm_cheap_base_url=f"{cheap_url}/v1", llm_cheap_model=CHEAP_MODEL,
            price_cheap_input_per_token_usd=models.cheap_input_usd,
            price_cheap_output_per_token_usd=models.cheap_output_usd)
        yield _Runs(pipeline, base, asked, sample, seed, owners)


def _asked_on(split: str, sample: int, seed: int, models: Models, n_boot: int,
              gate_names: Sequence[str] | None, owners: Mapping[str, str] | None
              ) -> tuple[object, ...]:
    """What an off run and its intervals depend on besides the pipeline and the questions
    (the rule's settings do not reach an off run: no cheap model is in its chain)."""
    return (split, sample, seed, models, n_boot,
            None if gate_names is None else tuple(gate_names),
            None if owners is None else tuple(sorted(owners.items())))


def _compared(off: pd.DataFrame, off_figures: dict[str, object],
              bounds: dict[str, tuple[float, float]], on: pd.DataFrame, on_settings: Settings,
              split: str, asked_on: tuple[object, ...]) -> RouteComparison:
    return RouteComparison(off, on,
                           figures_table(off_figures, quality.split_metrics(on, split), bounds),
                           cost_figures(off, on),
                           on_settings.routing.model_dump(mode="json"),
                           off_figures, bounds, asked_on)


def _off(runs: _Runs, split: str, n_boot: int, seed: int, gate_names: Sequence[str] | None
         ) -> tuple[pd.DataFrame, dict[str, object], dict[str, tuple[float, float]]]:
    """The off run, its figures and the bootstrap intervals of the gated ones."""
    frame, _ = runs.ask("off", {})
    figures = quality.split_metrics(frame, split)
    bounds = intervals(frame, gated_figures(figures, gate_names), split, n_boot=n_boot,
                       seed=seed)
    return frame, figures, bounds


def compare(pipeline: Pipeline, qa: pd.DataFrame, *, split: str = "test", sample: int = 0,
            seed: int = 7, models: Models = Models(), route: Mapping[str, object] | None = None,
            owners: Mapping[str, str] | None = None, n_boot: int = 200,
            gate_names: Sequence[str] | None = None) -> RouteComparison:
    """Routing off and on over the ``split`` questions of ``qa`` (``sample``: stratified, 0:
    all), the two mock models started here and stopped at the end; ``route``: the rule's
    settings (``llm_route_max_context_tokens``, ``llm_route_kinds``) beside their defaults."""
    asked_on = _asked_on(split, sample, seed, models, n_boot, gate_names, owners)
    with _models_up(pipeline, qa, split, sample, seed, models, owners) as runs:
        off, off_figures, bounds = _off(runs, split, n_boot, seed, gate_names)
        on, on_settings = runs.ask("on", dict(route or {}))
    return _compared(off, off_figures, bounds, on, on_settings, split, asked_on)


def sweep(pipeline: Pipeline, qa: pd.DataFrame, values: Sequence[int], *,
          route: Mapping[str, object] | None = None, split: str = "test", sample: int = 0,
          seed: int = 7, models: Models = Models(), owners: Mapping[str, str] | None = None,
          n_boot: int = 200, gate_names: Sequence[str] | None = None,
          compared: RouteComparison | None = None) -> pd.DataFrame:
    """The comparison at each value of ``RAG_LLM_ROUTE_MAX_CONTEXT_TOKENS`` (the rest of the
    rule as ``route``): one row per value with the cost figures, the figures outside their
    interval and the farthest any figure fell below its interval's low end.

    The off run and its intervals do not depend on the rule, so they are measured once for the
    whole sweep; ``compared`` (``compare``'s result on the same questions, models and
    resampling) lends its off run and intervals, and its on run to the value whose rule it
    ran, so that nothing is asked twice. Each row is what ``compare`` at that value gives."""
    asked_on = _asked_on(split, sample, seed, models, n_boot, gate_names, owners)
    lent = compared if compared is not None and compared.asked_on == asked_on \
        and compared.bounds else None
    rows = []
    with _models_up(pipeline, qa, split, sample, seed, models, owners) as runs:
        if lent is not None:
            off, off_figures, bounds = lent.off, lent.off_figures, lent.bounds
        elif values:
            off, off_figures, bounds = _off(runs, split, n_boot, seed, gate_names)
        for value in values:
            rule = {**(route or {}), "llm_route_max_context_tokens": value}
            wanted = runs.base.with_overrides(llm_route="on", **rule).routing
            if lent is not None and lent.settings == wanted.model_dump(mode="json"):
                one = lent
            else:
                on, on_settings = runs.ask("on", rule)
                one = _compared(off, off_figures, bounds, on, on_settings, split, asked_on)
            table = one.figures
            below = float((table["ci_low"] - table["on"]).clip(lower=0).max()) \
                if len(table) else 0.0
            rows.append({"max_context_tokens": value, **one.costs,
                         "figures_outside": one.metrics()[f"{PREFIX}figures_outside"],
                         "worst_below_interval": below})
    return pd.DataFrame(rows)
