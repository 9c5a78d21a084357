"""Load shapes for Locust; the numbers come from :func:`loadtests.traffic.shape_target`.

Pick one with ``RAG_LOAD_SHAPE=ramp|sustained|spike|steps`` (the locustfile then exposes
exactly that class); ``-u``, ``-r`` and ``-t`` still give the peak users, the spawn rate and the
duration (``use_common_options``). ``steps`` is a concurrency sweep: the user counts of
``RAG_LOAD_STEPS`` (``1,2,4,8``), ``RAG_LOAD_STEP_S`` seconds each. Without ``RAG_LOAD_SHAPE``
Locust runs its plain ``-u``/``-r``/``-t`` load.
"""

from __future__ import annotations

import os

from locust import LoadTestShape

from loadtests.traffic import shape_target, step_list, steps_target


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
    """A concurrency sweep: ``RAG_LOAD_STEPS`` users, ``RAG_LOAD_STEP_S`` seconds per step."""

    def __init__(self) -> None:
        super().__init__()
        self.steps = step_list(os.environ.get("RAG_LOAD_STEPS"))
        self.step_s = float(os.environ.get("RAG_LOAD_STEP_S") or 10)

    def tick(self) -> tuple[int, float] | None:
        return steps_target(self.steps, self.step_s, self.get_run_time())


SHAPE_CLASSES: dict[str, type[LoadTestShape]] = {
    "ramp": RampShape, "sustained": SustainedShape, "spike": SpikeShape, "steps": StepsShape}
