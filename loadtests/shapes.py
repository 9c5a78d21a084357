"""Load shapes for Locust; the numbers come from :func:`loadtests.traffic.shape_target`.

Pick one with ``RAG_LOAD_SHAPE=ramp|sustained|spike|steps`` (or ``--rag-load-shape``; the
locustfile makes it the run's shape when the run starts, :func:`shape_for`); ``-u``, ``-r`` and
``-t`` still give the peak users, the spawn rate and the duration (``use_common_options``).
``steps`` is a concurrency sweep: the user counts of ``RAG_LOAD_STEPS`` (``1,2,4,8``),
``RAG_LOAD_STEP_S`` seconds each. Without a shape Locust runs its plain ``-u``/``-r``/``-t``
load.
"""

from __future__ import annotations

from locust import LoadTestShape

from loadtests.config import LoadConfig
from loadtests.traffic import shape_target, steps_target


class _GoldenShape(LoadTestShape):
    abstract = True
    use_common_options = True
    shape = "sustained"

    def tick(self) -> tuple[int, float] | None:
        options = self.runner.environment.parsed_options  # type: ignore[union-attr]
        if options is None:  # a shape runs under the locust command, which parses options
            raise RuntimeError("a load shape needs Locust's parsed options")
        duration = float(options.run_time or 60)
        return shape_target(self.shape, self.get_run_time(), int(options.num_users or 1),
                            float(options.spawn_rate or 1), duration)


class RampShape(_GoldenShape):
    shape = "ramp"


class SustainedShape(_GoldenShape):
    shape = "sustained"


class SpikeShape(_GoldenShape):
    shape = "spike"


class StepsShape(LoadTestShape):
    """A concurrency sweep: ``steps`` users, ``step_s`` seconds per step."""

    def __init__(self, steps: tuple[int, ...] = (1,), step_s: float = 10.0) -> None:
        super().__init__()
        self.steps = list(steps)
        self.step_s = step_s

    def tick(self) -> tuple[int, float] | None:
        return steps_target(self.steps, self.step_s, self.get_run_time())


SHAPE_CLASSES: dict[str, type[LoadTestShape]] = {
    "ramp": RampShape, "sustained": SustainedShape, "spike": SpikeShape, "steps": StepsShape}


def shape_for(config: LoadConfig) -> LoadTestShape | None:
    """The load shape the run's config names, or None (plain ``-u``/``-r``/``-t``)."""
    if config.shape is None:
        return None
    if config.shape == "steps":
        return StepsShape(config.steps, config.step_s)
    return SHAPE_CLASSES[config.shape]()
