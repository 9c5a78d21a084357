"""Metric families of the harness, one small module each.

Every function here is pure (or takes its model as an argument) and is tested on hand-made
cases in ``tests/evals/``. A metric that does not apply to an item returns ``None``, and the
aggregations skip ``None``: a question without reference notes has no recall, not a recall of 0.
"""
